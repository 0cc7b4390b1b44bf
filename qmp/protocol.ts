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
} as const;
export type KnownEvent = keyof typeof EventData;
export type QmpEvent<K extends KnownEvent = KnownEvent> = {
  event: K;
  data: z.infer<(typeof EventData)[K]>;
  timestamp: { seconds: number; microseconds: number };
};

// ---- commands we send, with their arguments and returns ---------------------------

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
  'query-migrate': { args: NoArgs, ret: z.looseObject({ status: z.string().optional() }) },
} satisfies Record<string, { args: z.ZodType; ret: z.ZodType }>;

export type CommandName = keyof typeof COMMANDS;
export type Commands = {
  [K in CommandName]: { args: z.input<(typeof COMMANDS)[K]['args']>; ret: z.infer<(typeof COMMANDS)[K]['ret']> };
};
