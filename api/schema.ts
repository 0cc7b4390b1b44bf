/**
 * What the daemon's D-Bus API says about VMs: one schema for the daemon that
 * writes it and for every client (CLI, bar, panel) that reads it.
 */
import { z } from 'zod';
import { VmBackupStatus } from './backup-schema.js';
import { WhenHidden } from '../config/schema.js';

/**
 * `unresponsive`: QEMU has not answered a command for a while (policy.unresponsiveAfterMs).
 * `saving`, `hibernated`, `restoring`: the VM's RAM goes to / is on / comes back from disk.
 */
export const VM_STATES = ['stopped', 'starting', 'running', 'paused', 'stopping', 'failed', 'unresponsive', 'saving', 'hibernated', 'restoring'] as const;
export const VmState = z.enum(VM_STATES);
export type VmState = z.infer<typeof VmState>;

/** A user's hold on a VM: paused or stopped by hand (focus does not undo it). */
export const HOLDS = ['paused', 'stopped'] as const;
export const Hold = z.enum(HOLDS);
export type Hold = z.infer<typeof Hold>;

export const VmStatus = z.object({
  name: z.string(),
  state: VmState,
  /** Why it is in this state ("focused workspace 2", "QEMU exited with code 1: …"). */
  reason: z.string(),
  workspace: z.string().nullable(),
  pid: z.number().int().nullable(),
  kind: z.enum(['qemu', 'flake']),
  /** The network's colour (#rrggbb) from config.json; null: none. */
  color: z.string().regex(/^#[0-9a-f]{6}$/).nullable().optional(),
  flake: z.string().nullable(),
  /** The user paused or stopped it by hand: focus does not undo that. */
  heldByUser: z.boolean(),
  /** Which hold: paused or stopped by hand; null: none. */
  hold: Hold.nullable().optional(),
  /** Since when QEMU has not answered (epoch ms), while `state` is `unresponsive`. */
  unresponsiveSince: z.number().nullable(),
  /** Epoch ms of the last state change. */
  since: z.number(),
  uptimeMs: z.number().nullable(),
  memoryBudgetMiB: z.number().nullable(),
  rssBytes: z.number().nullable(),
  cpuPercent: z.number().nullable(),
  lastColdBootMs: z.number().nullable(),
  lastResumeMs: z.number().nullable(),
  restarts: z.number().int(),
  /** Flake VMs: the last update news ("update ready: 9e0d4c2 → 3f2c1ab", "… rolled back to …"). */
  lastUpdate: z.string().nullable().optional(),
  /** Flake VMs: an update held for the member's review (its short revision), or null. */
  updateHeld: z.string().max(64).nullable().optional(),
  /** Flake VMs: the generation its next start boots, and that generation's short revision. */
  generation: z.object({ number: z.number().int(), revision: z.string(), outcome: z.string() }).nullable().optional(),
  /** Memory: the image of a hibernated VM (bytes, epoch ms saved); null otherwise. */
  image: z.object({ bytes: z.number(), savedAt: z.number() }).nullable().optional(),
  /** Memory: why the last save or restore failed (until the next one succeeds). */
  memoryProblem: z.string().nullable().optional(),
  lastSaveMs: z.number().nullable().optional(),
  lastRestoreMs: z.number().nullable().optional(),
  /** Memory: images that could not be restored, kept in its state dir (newest first; only the newest few are kept). */
  asideImages: z.array(z.object({ file: z.string().max(255), bytes: z.number(), at: z.number() })).max(16).optional(),
  /** Memory: saved to disk when hidden long or over the budget (false: opted out). */
  hibernates: z.boolean().optional(),
  /** Backups: api/backup-schema.ts. */
  backup: VmBackupStatus.optional(),
  /** Its config's "whenHidden" (default "pause"). */
  whenHidden: WhenHidden.optional(),
  /** It runs while its workspace is out of sight ("whenHidden": "run", or started by hand there). */
  runsHidden: z.boolean().optional(),
});
export type VmStatus = z.infer<typeof VmStatus>;

export const DaemonStatus = z.object({
  vms: z.array(VmStatus),
  focusedWorkspace: z.string().nullable(),
  /** The VM bound to the focused workspace, if any. */
  focusedVm: z.string().nullable(),
  wm: z.enum(['sway', 'i3', 'none']),
  /** Problems of the last refused config edit (empty when the file on disk is in force). */
  configProblems: z.array(z.string()),
  /** Memory: resident memory of every VM's QEMU, and the budget it is held to (null: none). */
  memory: z.object({ heldBytes: z.number(), budgetMiB: z.number().nullable() }).optional(),
  /** Sound: the VM that hears the member (null: nobody), and whether it is pinned there. */
  microphone: z.object({ vm: z.string().nullable(), pinned: z.boolean() }).optional(),
});
export type DaemonStatus = z.infer<typeof DaemonStatus>;

/** Diagnostics(): the daemon's own latency marks and memory, for the bench. */
export const Diagnostics = z.object({
  /** WM event arrived → the `cont` (or start) write returned, ms, the last ≤ 4096 switches. */
  eventToWriteMs: z.array(z.number()).max(4096),
  /** For the same switches: how long the `cont` write call itself took (0 for a start). */
  writeCallMs: z.array(z.number()).max(4096),
  memory: z.record(z.string(), z.number()),
});
export type Diagnostics = z.infer<typeof Diagnostics>;

/**
 * Verbs a key binding (`nop hiboss VERB [NAME]`), a click or the CLI can send.
 * `clipto`/`clipfrom` pass the clipboard by hand, `micpin`/`micunpin` pin the microphone.
 */
export const VERBS = ['toggle', 'start', 'stop', 'pause', 'resume', 'restart', 'next', 'prev', 'focus', 'hibernate', 'prewarm', 'clipto', 'clipfrom', 'micpin', 'micunpin'] as const;
export const Verb = z.enum(VERBS);
export type Verb = z.infer<typeof Verb>;


// ---- generations of flake VMs ----------------------------------------------

/** One direct input of a flake as its lock file pins it. */
export const LockedInput = z.strictObject({
  name: z.string().max(256),
  /** github:NixOS/nixpkgs, git+https://…, path:…, "follows …" */
  source: z.string().max(4096),
  /** The locked revision (or narHash when there is none). */
  revision: z.string().max(256),
});
export type LockedInput = z.infer<typeof LockedInput>;

/** What a build will cost, read before it is built (`nix build --dry-run`'s plan; daemon/launch/dry-run.ts). */
export const BuildEstimate = z.strictObject({
  /** Derivations nix will build (in its sandbox). */
  builds: z.number().int().min(0).max(10_000_000),
  /** The first few of their names (without .drv). */
  buildNames: z.array(z.string().min(1).max(200)).max(8),
  /** Store paths nix will fetch from a binary cache. */
  fetches: z.number().int().min(0).max(10_000_000),
  downloadBytes: z.number().int().min(0).max(2 ** 50),
  unpackedBytes: z.number().int().min(0).max(2 ** 50),
});
export type BuildEstimate = z.infer<typeof BuildEstimate>;

/**
 * An update held for the member's review (`updates.review`): the flake's new
 * locked revision changes its inputs, so it is built only once approved.
 */
export const HeldUpdate = z.strictObject({
  /** The config's `flake` it was found for. */
  flake: z.string().max(2048),
  revision: z.string().max(256),
  lockedUrl: z.string().max(4096),
  lastModified: z.number().int().nullable(),
  /** The revision the VM's selected generation was built from (null: none recorded). */
  fromRevision: z.string().max(256).nullable(),
  /** Each input whose locked revision changed: old → new (null: absent on that side). */
  changes: z.array(z.strictObject({ name: z.string().max(256), source: z.string().max(4096), from: z.string().max(256).nullable(), to: z.string().max(256).nullable() })).max(256),
  /** The new revision's inputs as locked (what approving builds). */
  inputs: z.array(LockedInput).max(256),
  estimate: BuildEstimate.nullable(),
  /** Why there is no estimate. */
  estimateProblem: z.string().max(1000).nullable(),
  /** Epoch ms. */
  heldAt: z.number(),
});
export type HeldUpdate = z.infer<typeof HeldUpdate>;

/** One build of a flake VM, as kept in its state dir and reported by `Generations(name)`. */
export const Generation = z.strictObject({
  number: z.number().int().positive(),
  /** The flake reference it was built from (the config's `flake`). */
  flake: z.string().max(2048),
  /** The locked revision (git rev) or, for a flake without one, its narHash. */
  revision: z.string().max(256),
  /** The locked URL that was built (nix flake metadata's `url`). */
  lockedUrl: z.string().max(4096),
  /** The flake's last-modified time (epoch s), when nix knows it. */
  lastModified: z.number().int().nullable(),
  outPath: z.string().max(4096),
  /** Epoch ms. */
  builtAt: z.number(),
  /** `new`: not booted to the end of a health window yet. */
  outcome: z.enum(['new', 'healthy', 'failed']),
  /** Why it failed ("kernel panic 12 s after boot"). */
  failure: z.string().max(4000).nullable(),
  judgedAt: z.number().nullable(),
  /** The flake's direct inputs as locked for this build (absent: built before hiboss recorded them). */
  inputs: z.array(LockedInput).max(256).optional(),
});
export type Generation = z.infer<typeof Generation>;

/** `Generations(name)`: a flake VM's kept generations, newest first, and the one its next start boots. */
export const GenerationsReport = z.object({
  name: z.string(),
  selected: z.number().int().nullable(),
  generations: z.array(Generation.extend({ gcRoot: z.string().nullable() })).max(1000),
  /** A build running now (manual or automatic), or null. */
  updating: z.object({ since: z.number(), auto: z.boolean() }).nullable(),
  /** An update held for review (`updates.review`), built once approved (ApproveUpdate). */
  held: HeldUpdate.nullable().optional(),
});
export type GenerationsReport = z.infer<typeof GenerationsReport>;

/**
 * The kinds of the UpdateEvent signal: how a build goes (`held`: its inputs
 * changed and updates.review waits for the member), then the health window's
 * judgement of what was built.
 */
export type UpdateProgressKind = 'building' | 'built' | 'build-failed' | 'up-to-date' | 'held';
export type UpdateJudgementKind = 'healthy' | 'failed' | 'rolled-back';
export type UpdateEventKind = UpdateProgressKind | UpdateJudgementKind;

/** Short form of a revision for people: `3f2c1ab` (a narHash: its first characters). */
export function shortRevision(revision: string): string {
  return revision.replace(/^sha256-/, '').replace(/[^A-Za-z0-9]/g, '').slice(0, 7);
}
