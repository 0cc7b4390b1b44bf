/**
 * The QEMU guest agent's wire shapes (qga/qapi-schema.json, the parts hiboss
 * speaks), as zod schemas for what arrives and one command table for what we
 * send. Line JSON like QMP, but no greeting, no capabilities and no ids: the
 * agent answers in order, and `guest-sync-delimited` (answered after a 0xFF
 * byte) finds the start of our answers in a channel that may hold stale bytes.
 * No sockets here: see client.ts.
 */
import { z } from 'zod';

export const ReturnMessage = z.object({ return: z.unknown() });
export const ErrorMessage = z.object({ error: z.looseObject({ class: z.string(), desc: z.string() }) });

/** The byte the agent sends before its answer to guest-sync-delimited (and we send to reset its parser). */
export const SYNC_DELIMITER = 0xff;

const Nothing = z.object({}).loose();

/** Every agent command hiboss sends: its arguments and its checked return. */
export const COMMANDS = {
  'guest-sync-delimited': { args: z.object({ id: z.number().int() }), ret: z.number().int() },
  'guest-ping': { args: z.undefined(), ret: Nothing },
  'guest-info': { args: z.undefined(), ret: z.looseObject({ version: z.string() }) },
  /**
   * Sets the guest's clock (ns since the epoch; without `time`, from the RTC) — after the host slept.
   * Nanoseconds since the epoch exceed 2^53: a plain number (256 ns steps), not a safe integer.
   */
  'guest-set-time': { args: z.object({ time: z.number().nonnegative().optional() }), ret: Nothing },
  /** The guest's clock, ns since the epoch (to check a correction). */
  'guest-get-time': { args: z.undefined(), ret: z.number() },
  /** Backups: the guest's filesystems frozen for the instant a backup job starts. */
  'guest-fsfreeze-status': { args: z.undefined(), ret: z.enum(['thawed', 'frozen']) },
  'guest-fsfreeze-freeze': { args: z.undefined(), ret: z.number().int() },
  'guest-fsfreeze-thaw': { args: z.undefined(), ret: z.number().int() },
  /** Memory: "3" into /proc/sys/vm/drop_caches before a pause — a file write, no shell. */
  'guest-file-open': { args: z.object({ path: z.string(), mode: z.string().optional() }), ret: z.number().int() },
  'guest-file-write': { args: z.object({ handle: z.number().int(), 'buf-b64': z.string() }), ret: z.looseObject({ count: z.number().int() }) },
  'guest-file-close': { args: z.object({ handle: z.number().int() }), ret: Nothing },
  /** Members: the identity file the VM publishes at boot, read in bounded chunks. */
  'guest-file-read': {
    args: z.object({ handle: z.number().int(), count: z.number().int().positive().optional() }),
    ret: z.looseObject({ count: z.number().int().nonnegative(), 'buf-b64': z.string(), eof: z.boolean() }),
  },
  /** Runs a program in the guest (tests write records on its disk with it). */
  'guest-exec': {
    args: z.object({ path: z.string(), arg: z.array(z.string()).optional(), 'capture-output': z.boolean().optional(), 'input-data': z.string().optional() }),
    ret: z.looseObject({ pid: z.number().int() }),
  },
  'guest-exec-status': {
    args: z.object({ pid: z.number().int() }),
    ret: z.looseObject({ exited: z.boolean(), exitcode: z.number().int().optional(), signal: z.number().int().optional(), 'out-data': z.string().optional(), 'err-data': z.string().optional() }),
  },
} satisfies Record<string, { args: z.ZodType; ret: z.ZodType }>;

export type AgentCommand = keyof typeof COMMANDS;
export type AgentCommands = {
  [K in AgentCommand]: { args: z.input<(typeof COMMANDS)[K]['args']>; ret: z.infer<(typeof COMMANDS)[K]['ret']> };
};
