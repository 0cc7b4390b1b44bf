/**
 * QMP wire shapes (QEMU's QAPI, the parts hiboss speaks), as zod schemas for
 * what arrives and typed maps for what we send. No sockets here: see client.ts.
 */
import { z } from 'zod';

/** QAPI RunState (qapi/run-state.json). */
export const RunState = z.enum([
  'debug',
  'inmigrate',
  'internal-error',
  'io-error',
  'paused',
  'postmigrate',
  'prelaunch',
  'finish-migrate',
  'restore-vm',
  'running',
  'save-vm',
  'shutdown',
  'suspended',
  'watchdog',
  'guest-panicked',
  'colo',
]);
export type RunState = z.infer<typeof RunState>;

export const StatusInfo = z.looseObject({ running: z.boolean(), status: RunState });
export type StatusInfo = z.infer<typeof StatusInfo>;

export const QemuVersion = z.looseObject({
  qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
  package: z.string(),
});

export const Greeting = z.object({
  QMP: z.looseObject({
    version: QemuVersion,
    capabilities: z.array(z.string()),
  }),
});
export type Greeting = z.infer<typeof Greeting>;

const Id = z.union([z.string(), z.number()]);

export const ReturnMessage = z.object({ return: z.unknown(), id: Id.optional() });
export const ErrorMessage = z.object({
  error: z.looseObject({ class: z.string(), desc: z.string() }),
  id: Id.optional(),
});
export const Timestamp = z.object({ seconds: z.number(), microseconds: z.number() });
export const EventMessage = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: Timestamp,
});
export type EventMessage = z.infer<typeof EventMessage>;

export const ServerMessage = z.union([ReturnMessage, ErrorMessage, EventMessage]);

// ---- events we act on, with their data ---------------------------------------------

export const ShutdownCause = z.string(); // 'guest-shutdown', 'host-qmp-quit', 'host-signal', …
export const EventData = {
  STOP: z.object({}).loose(),
  RESUME: z.object({}).loose(),
  SHUTDOWN: z.looseObject({ guest: z.boolean(), reason: ShutdownCause }),
  POWERDOWN: z.object({}).loose(),
  RESET: z.looseObject({ guest: z.boolean(), reason: z.string() }),
  SUSPEND: z.object({}).loose(),
  WAKEUP: z.object({}).loose(),
  MIGRATION: z.looseObject({ status: z.string() }),
  GUEST_PANICKED: z.looseObject({ action: z.string() }),
  // Block jobs (backups): every state change, and how a job ended.
  JOB_STATUS_CHANGE: z.looseObject({ id: z.string(), status: z.string() }),
  BLOCK_JOB_PENDING: z.looseObject({ id: z.string(), type: z.string() }),
  BLOCK_JOB_COMPLETED: z.looseObject({ device: z.string(), type: z.string(), len: z.number(), offset: z.number(), error: z.string().optional() }),
  BLOCK_JOB_CANCELLED: z.looseObject({ device: z.string(), type: z.string(), len: z.number(), offset: z.number() }),
  BLOCK_JOB_ERROR: z.looseObject({ device: z.string(), operation: z.string(), action: z.string() }),
  /** A guest I/O request failed (with werror=stop/enospc the VM is paused until `cont`). */
  BLOCK_IO_ERROR: z.looseObject({ device: z.string(), operation: z.string(), action: z.string(), nospace: z.boolean().optional(), reason: z.string().optional() }),
} as const;
export type KnownEvent = keyof typeof EventData;
export type QmpEvent<K extends KnownEvent = KnownEvent> = {
  event: K;
  data: z.infer<(typeof EventData)[K]>;
  timestamp: { seconds: number; microseconds: number };
};

// ---- commands we send, with their arguments and returns ---------------------------

// ---- block devices, dirty bitmaps and backup jobs (qapi/block-core.json, job.json) -----

export const DirtyBitmapInfo = z.looseObject({
  name: z.string().optional(),
  /** Dirty bytes: what an incremental backup would copy now. */
  count: z.number(),
  granularity: z.number(),
  recording: z.boolean().optional(),
  busy: z.boolean().optional(),
  persistent: z.boolean().optional(),
  /** Left in use by a QEMU that did not close the image: unusable, must be removed. */
  inconsistent: z.boolean().optional(),
});
export type DirtyBitmapInfo = z.infer<typeof DirtyBitmapInfo>;

export const ImageInfo = z.looseObject({
  filename: z.string(),
  format: z.string(),
  'virtual-size': z.number(),
  'actual-size': z.number().optional(),
});

/** One node of the block graph, as query-block's `inserted` and query-named-block-nodes show it. */
export const BlockDeviceInfo = z.looseObject({
  file: z.string(),
  'node-name': z.string().optional(),
  drv: z.string(),
  ro: z.boolean(),
  image: ImageInfo,
  'dirty-bitmaps': z.array(DirtyBitmapInfo).optional(),
});
export type BlockDeviceInfo = z.infer<typeof BlockDeviceInfo>;

export const BlockInfo = z.looseObject({
  device: z.string(),
  qdev: z.string().optional(),
  inserted: BlockDeviceInfo.optional(),
});
export type BlockInfo = z.infer<typeof BlockInfo>;

/** The blockdev-add shapes hiboss uses: a qcow2 image on a file (a backup target, or an offline disk), and a file node. */
export const Qcow2BlockdevOptions = z.object({
  driver: z.literal('qcow2'),
  'node-name': z.string(),
  /** The file: inline, or a file node added before (by name). */
  file: z.union([z.object({ driver: z.literal('file'), filename: z.string() }), z.string()]),
  /** null: do not open the backing chain (an incremental target writes only what changed). */
  backing: z.null().optional(),
  'read-only': z.boolean().optional(),
});
export type Qcow2BlockdevOptions = z.infer<typeof Qcow2BlockdevOptions>;
export const FileBlockdevOptions = z.object({ driver: z.literal('file'), 'node-name': z.string(), filename: z.string() });

/** blockdev-create's options (a job): an empty file, then a qcow2 image on its node (no qemu-img process). */
export const BlockdevCreateOptions = z.discriminatedUnion('driver', [
  z.object({ driver: z.literal('file'), filename: z.string(), size: z.number() }),
  z.object({
    driver: z.literal('qcow2'),
    file: z.string(),
    size: z.number(),
    'backing-file': z.string().optional(),
    'backing-fmt': z.literal('qcow2').optional(),
  }),
]);

export const BitmapAddArgs = z.object({
  node: z.string(),
  name: z.string(),
  persistent: z.boolean().optional(),
  granularity: z.number().optional(),
  disabled: z.boolean().optional(),
});
export const BitmapRefArgs = z.object({ node: z.string(), name: z.string() });

export const BackupSync = z.enum(['full', 'incremental', 'top', 'none', 'bitmap']);
export const BlockdevBackupArgs = z.object({
  'job-id': z.string(),
  device: z.string(),
  target: z.string(),
  sync: BackupSync,
  bitmap: z.string().optional(),
  /** What becomes of the bitmap: on-success clears it only when the job succeeds (a failed job keeps every dirty bit). */
  'bitmap-mode': z.enum(['on-success', 'never', 'always']).optional(),
  /** Bytes per second (0: unlimited). */
  speed: z.number().optional(),
  'on-source-error': z.enum(['report', 'ignore', 'enospc', 'stop', 'auto']).optional(),
  'on-target-error': z.enum(['report', 'ignore', 'enospc', 'stop', 'auto']).optional(),
  /** false: the job waits in `pending` for job-finalize (a dying daemon leaves the bitmap untouched). */
  'auto-finalize': z.boolean().optional(),
  /** false: the job stays `concluded` (with its error) until job-dismiss. */
  'auto-dismiss': z.boolean().optional(),
});
export type BlockdevBackupArgs = z.infer<typeof BlockdevBackupArgs>;

/** The transaction actions hiboss uses: a new bitmap and the backup that starts at the same instant. */
export const TransactionAction = z.discriminatedUnion('type', [
  z.object({ type: z.literal('block-dirty-bitmap-add'), data: BitmapAddArgs }),
  z.object({ type: z.literal('block-dirty-bitmap-remove'), data: BitmapRefArgs }),
  z.object({ type: z.literal('block-dirty-bitmap-clear'), data: BitmapRefArgs }),
  z.object({ type: z.literal('blockdev-backup'), data: BlockdevBackupArgs }),
]);
export type TransactionAction = z.infer<typeof TransactionAction>;

/** QAPI JobStatus. */
export const JobStatus = z.enum(['undefined', 'created', 'running', 'paused', 'ready', 'standby', 'waiting', 'pending', 'aborting', 'concluded', 'null']);
export type JobStatus = z.infer<typeof JobStatus>;
export const JobInfo = z.looseObject({
  id: z.string(),
  type: z.string(),
  status: JobStatus,
  'current-progress': z.number(),
  'total-progress': z.number(),
  error: z.string().optional(),
});
export type JobInfo = z.infer<typeof JobInfo>;

export const ObjectPropertyInfo = z.looseObject({ name: z.string(), type: z.string() });
export const ChardevInfo = z.looseObject({ label: z.string(), filename: z.string(), 'frontend-open': z.boolean().optional() });
export type ChardevInfo = z.infer<typeof ChardevInfo>;

/** QEMU answers `{}` to commands that return nothing. */
const Nothing = z.object({}).loose();
const NoArgs = z.undefined();

/**
 * Every command hiboss sends, in one table: its arguments and its return. The
 * types below come from it, and the client checks every reply against `ret`.
 */
export const COMMANDS = {
  qmp_capabilities: { args: z.object({ enable: z.array(z.string()).optional() }).optional(), ret: Nothing },
  'query-status': { args: NoArgs, ret: StatusInfo },
  stop: { args: NoArgs, ret: Nothing },
  cont: { args: NoArgs, ret: Nothing },
  quit: { args: NoArgs, ret: Nothing },
  system_powerdown: { args: NoArgs, ret: Nothing },
  system_reset: { args: NoArgs, ret: Nothing },
  'human-monitor-command': { args: z.object({ 'command-line': z.string(), 'cpu-index': z.number().optional() }), ret: z.string() },
  'query-version': { args: NoArgs, ret: QemuVersion },
  migrate: { args: z.object({ uri: z.string() }), ret: Nothing },
  'migrate-incoming': { args: z.object({ uri: z.string() }), ret: Nothing },
  'query-migrate': { args: NoArgs, ret: z.looseObject({ status: z.string().optional(), 'error-desc': z.string().optional() }) },
  // Memory: save to / restore from an image (daemon/vm/hibernate.ts), and the balloon.
  'query-migrate-capabilities': { args: NoArgs, ret: z.array(z.looseObject({ capability: z.string(), state: z.boolean() })) },
  'migrate-set-capabilities': { args: z.object({ capabilities: z.array(z.object({ capability: z.string(), state: z.boolean() })) }), ret: Nothing },
  'migrate-set-parameters': { args: z.object({ 'max-bandwidth': z.number().int().positive().optional(), 'multifd-channels': z.number().int().min(1).max(255).optional() }), ret: Nothing },
  migrate_cancel: { args: NoArgs, ret: Nothing },
  // A descriptor handed over with the command itself (SCM_RIGHTS: QmpClient.passFd), then used as `fd:NAME`.
  getfd: { args: z.object({ fdname: z.string().max(64) }), ret: Nothing },
  closefd: { args: z.object({ fdname: z.string().max(64) }), ret: Nothing },
  balloon: { args: z.object({ value: z.number().int().positive() }), ret: Nothing },
  'query-balloon': { args: NoArgs, ret: z.looseObject({ actual: z.number() }) },
  'qom-set': { args: z.object({ path: z.string(), property: z.string(), value: z.unknown() }), ret: Nothing },
  'query-memory-size-summary': { args: NoArgs, ret: z.looseObject({ 'base-memory': z.number() }) },
  // Backups (daemon/backup/): find the disk, track its changes, copy it while the VM runs.
  'query-block': { args: NoArgs, ret: z.array(BlockInfo) },
  'query-named-block-nodes': { args: z.object({ flat: z.boolean().optional() }).optional(), ret: z.array(BlockDeviceInfo.extend({ 'node-name': z.string() })) },
  'blockdev-add': { args: z.union([Qcow2BlockdevOptions, FileBlockdevOptions]), ret: Nothing },
  'blockdev-create': { args: z.object({ 'job-id': z.string(), options: BlockdevCreateOptions }), ret: Nothing },
  'blockdev-del': { args: z.object({ 'node-name': z.string() }), ret: Nothing },
  'block-dirty-bitmap-add': { args: BitmapAddArgs, ret: Nothing },
  'block-dirty-bitmap-remove': { args: BitmapRefArgs, ret: Nothing },
  'blockdev-backup': { args: BlockdevBackupArgs, ret: Nothing },
  transaction: { args: z.object({ actions: z.array(TransactionAction) }), ret: Nothing },
  'query-jobs': { args: NoArgs, ret: z.array(JobInfo) },
  'job-finalize': { args: z.object({ id: z.string() }), ret: Nothing },
  'job-dismiss': { args: z.object({ id: z.string() }), ret: Nothing },
  'job-cancel': { args: z.object({ id: z.string() }), ret: Nothing },
  // The guest agent's channel: which chardev the org.qemu.guest_agent.0 port uses.
  'qom-list': { args: z.object({ path: z.string() }), ret: z.array(ObjectPropertyInfo) },
  'qom-get': { args: z.object({ path: z.string(), property: z.string() }), ret: z.unknown() },
  'query-chardev': { args: NoArgs, ret: z.array(ChardevInfo) },
} satisfies Record<string, { args: z.ZodType; ret: z.ZodType }>;

export type CommandName = keyof typeof COMMANDS;
export type Commands = {
  [K in CommandName]: { args: z.input<(typeof COMMANDS)[K]['args']>; ret: z.infer<(typeof COMMANDS)[K]['ret']> };
};
