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

export const Greeting = z.object({
  QMP: z.looseObject({
    version: z.looseObject({
      qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
      package: z.string(),
    }),
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

export interface Commands {
  qmp_capabilities: { args: { enable?: string[] } | undefined; ret: Record<string, never> };
  'query-status': { args: undefined; ret: StatusInfo };
  stop: { args: undefined; ret: Record<string, never> };
  cont: { args: undefined; ret: Record<string, never> };
  quit: { args: undefined; ret: Record<string, never> };
  system_powerdown: { args: undefined; ret: Record<string, never> };
  system_reset: { args: undefined; ret: Record<string, never> };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; ret: string };
  'query-version': { args: undefined; ret: Greeting['QMP']['version'] };
  migrate: { args: { uri: string }; ret: Record<string, never> };
  'migrate-incoming': { args: { uri: string }; ret: Record<string, never> };
  'query-migrate': { args: undefined; ret: { status?: string; [k: string]: unknown } };
}
export type CommandName = keyof Commands;

/** Return schemas for the commands whose answers we read. */
export const ReturnSchemas: Partial<Record<CommandName, z.ZodType>> = {
  'query-status': StatusInfo,
  'human-monitor-command': z.string(),
};
