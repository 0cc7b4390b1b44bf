/**
 * The daemon's config file (config.json): the one schema every reader and
 * writer of it uses (daemon, CLI, panel wizard).
 */
import { z } from 'zod';
import { workspaceOwners } from './workspaces.js';
import { Color } from './colors.js';
import { BackupConfig } from './backup-schema.js';
import { NO_CONTROL_CHARACTERS, withoutControlCharacters } from '../shared/control-chars.js';
import { MarketConfig } from './market-schema.js';

/** A VM name can never escape its directory nor mean anything to a shell. */
export const VmName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, 'VM names are 1–32 of A–Z a–z 0–9 _ -');
export type VmName = z.infer<typeof VmName>;

/** QEMU options the daemon sets itself, so a config may not. */
export const RESERVED_QEMU_OPTIONS = ['-qmp', '-name', '-pidfile', '-daemonize', '-monitor', '-qmp-pretty', '-chardev-qmp'] as const;

const QemuArgv = z
  .array(z.string().max(4096))
  .min(1, 'needs at least the QEMU binary')
  .max(1024)
  .superRefine((argv, ctx) => {
    argv.forEach((arg, index) => {
      const option = arg.replace(/^--/, '-').split('=')[0]!;
      if (index > 0 && (RESERVED_QEMU_OPTIONS as readonly string[]).includes(option)) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `${arg} is set by hiboss itself (QMP socket, name, pidfile; QEMU must not daemonize or take a stdio monitor)`,
        });
      }
    });
  });

/** A flake VM's updates: automatic builds, health after boot, generations kept. */
export const UpdatesConfig = z.strictObject({
  /** Build the flake's newest revision in the background; it is used at the VM's next cold start. */
  auto: z.boolean().default(false),
  /** How often an automatic update looks for a new revision. */
  everyHours: z.number().positive().max(24 * 366).default(24),
  /** A new generation must answer the guest agent this soon after boot (default: policy.healthTimeoutMs). */
  healthTimeoutMs: z.number().int().min(1000).max(3_600_000).optional(),
  /** Generations kept (GC roots); the last healthy one is kept as well. */
  keepGenerations: z.number().int().min(1).max(100).default(5),
  /**
   * Hold an update whose flake inputs changed (their locked revisions differ from the selected
   * generation's) until the member approves it (`hiboss update --approve NAME`): nothing is built before.
   */
  review: z.boolean().default(false),
});
export type UpdatesConfig = z.infer<typeof UpdatesConfig>;

/**
 * The programs in the guest that hold its clipboard (run by the guest agent, argv only): `paste` prints it
 * on stdout, `copy` takes it on stdin. The NixOS module installs them at the default paths (wl-paste/wl-copy
 * in the VM's desktop session); a guest without them names its own.
 */
const GuestArgv = z.array(z.string().min(1).max(4096)).min(1).max(64).refine((argv) => argv[0]!.startsWith('/'), 'the program is an absolute path in the guest');
export const GuestClipboard = z.strictObject({
  paste: GuestArgv.default(['/run/current-system/sw/bin/hiboss-clipboard', 'paste']),
  copy: GuestArgv.default(['/run/current-system/sw/bin/hiboss-clipboard', 'copy']),
});
export type GuestClipboard = z.infer<typeof GuestClipboard>;

/**
 * A host directory the member maps into a flake VM (9p; read-only unless `writable`). The host
 * path is checked when the VM starts (daemon/launch/shares.ts): a directory, no symlink on the
 * way, never the Nix store or a directory holding it.
 */
export const MAX_SHARES = 8;
export const Share = z.strictObject({
  /** An absolute path on the host. */
  host: z
    .string()
    .min(2)
    .max(1024)
    .refine((p) => p.startsWith('/'), 'an absolute path')
    .refine(withoutControlCharacters, NO_CONTROL_CHARACTERS)
    .refine((p) => !p.split('/').includes('..'), 'no ".." in the path'),
  /** Where the guest mounts it: an absolute path of plain characters, not the guest's / or /nix. */
  guest: z
    .string()
    .min(2)
    .max(256)
    .regex(/^(\/[A-Za-z0-9._-]+)+$/, 'an absolute path of A–Z a–z 0–9 . _ - components')
    .refine((p) => !p.split('/').some((c) => c === '.' || c === '..'), 'no "." or ".." in the path')
    .refine((p) => !/^\/(nix|proc|sys|dev|run|etc|boot)(\/|$)/.test(p), 'not under /nix, /proc, /sys, /dev, /run, /etc or /boot'),
  writable: z.boolean().default(false),
});
export type Share = z.infer<typeof Share>;

/** What a VM does while its workspace is out of sight: paused (the default), or left running. */
export const WHEN_HIDDEN = ['pause', 'run'] as const;
export const WhenHidden = z.enum(WHEN_HIDDEN);
export type WhenHidden = z.infer<typeof WhenHidden>;

/**
 * Where a VM's RAM lives (daemon/launch/ram-file.ts): `file`, a file hiboss owns in the VM's
 * state dir that QEMU maps (a restore maps it back: its time does not grow with the guest; the
 * kernel writes the guest's changes back to disk while it runs); `anonymous`, QEMU's own memory
 * (nothing written while it runs; a save and a restore copy all of it). Unset: `file` from
 * FILE_RAM_FROM_MIB of guest memory on.
 */
export const GUEST_RAM = ['file', 'anonymous'] as const;
export const GuestRam = z.enum(GUEST_RAM);
export type GuestRam = z.infer<typeof GuestRam>;

export const VmConfig = z
  .strictObject({
    /** Workspace name; a bare number also matches "N: label" workspaces. */
    workspace: z.string().min(1).max(256).refine(withoutControlCharacters, NO_CONTROL_CHARACTERS).optional(),
    /** QEMU's argv (binary first); hiboss adds -qmp, -name, -pidfile. */
    qemu: QemuArgv.optional(),
    /** A flake VM: FLAKE#NAME, built with nix build …system.build.vm. */
    flake: z.string().min(1).max(2048).refine(withoutControlCharacters, NO_CONTROL_CHARACTERS).optional(),
    /** Flake VMs: the member's QEMU binary (an absolute path, or a name looked up on the daemon's PATH). */
    qemuBinary: z
      .string()
      .max(4096)
      .regex(/^(\/[^\0]+|[A-Za-z0-9._+][A-Za-z0-9._+-]*)$/, 'an absolute path, or a program name looked up on PATH')
      .optional(),
    /** Flake VMs: "window" (a QEMU window, the default) or "none" (headless; the console socket only). */
    display: z.enum(['window', 'none']).optional(),
    /** Memory budget shown by the bar and panel, MiB. */
    memoryMiB: z.number().int().positive().max(1 << 22).optional(),
    /** The network's colour (#RRGGBB) on its windows, in the bar and the panel. */
    color: Color.optional(),
    /** Restart after QEMU dies unexpectedly (bounded, with backoff). */
    restart: z.enum(['on-failure', 'never']).default('on-failure'),
    /** "run": it keeps running while its workspace is hidden (never paused, saved or taken by the budget for it); default "pause". */
    whenHidden: WhenHidden.optional(),
    /** Memory: save it to disk when hidden long (or over the budget); false: never (default true). */
    hibernate: z.boolean().optional(),
    /** Memory: the guest's RAM in a file hiboss owns, or QEMU's anonymous memory (default by size: GuestRam). */
    guestRam: GuestRam.optional(),
    /** Memory: hiboss adds a virtio-balloon with free-page reporting; false: none (default true). */
    balloon: z.boolean().optional(),
    /** Flake VMs only: updates and health. */
    updates: UpdatesConfig.optional(),
    /** Backups of its disk: config/backup-schema.ts. */
    backup: BackupConfig.optional(),
    /** Sound: an audio device played through the member's sound server; false: none (default true). */
    audio: z.boolean().optional(),
    /** Clipboard by hand: the guest-side commands `hiboss clip` runs through the guest agent. */
    clipboard: GuestClipboard.optional(),
    /** Flake VMs: host directories the member maps into the VM (read-only by default). */
    shares: z
      .array(Share)
      .max(MAX_SHARES)
      .refine((shares) => new Set(shares.map((s) => s.guest)).size === shares.length, 'each share has its own guest path')
      .optional(),
  })
  .superRefine((vm, ctx) => {
    if ((vm.qemu === undefined) === (vm.flake === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of "qemu" (an argv) or "flake" (a flake reference)' });
    }
    for (const key of ['qemuBinary', 'display'] as const) {
      if (vm[key] !== undefined && vm.flake === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'only flake VMs take this (a "qemu" VM names its binary and display in its argv)' });
      }
    }
    if (vm.shares !== undefined && vm.flake === undefined) {
      ctx.addIssue({ code: 'custom', path: ['shares'], message: 'only flake VMs take shares (a "qemu" VM lists its own -virtfs)' });
    }
    if (vm.updates !== undefined && vm.flake === undefined) {
      ctx.addIssue({ code: 'custom', path: ['updates'], message: 'only flake VMs have updates' });
    }
  });
export type VmConfig = z.infer<typeof VmConfig>;

export const PolicyConfig = z.strictObject({
  /** How long a hidden workspace's VM keeps running before it is paused. */
  pauseAfterMs: z.number().int().min(0).max(3_600_000).default(1500),
  /** The session locked (logind Lock / LockedHint): pause every VM until it is unlocked. */
  pauseOnLock: z.boolean().default(false),
  /** Time an ACPI powerdown gets before `quit`. */
  powerdownTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
  /** Restarts after failures within `restartWindowMs` before giving up. */
  maxRestarts: z.number().int().min(0).max(100).default(3),
  restartWindowMs: z.number().int().min(0).default(60_000),
  /** First restart delay; doubles for each further failure. */
  restartDelayMs: z.number().int().min(0).max(600_000).default(1000),
  /** A cold start slower than this is worth a notification. */
  slowStartMs: z.number().int().min(0).default(15_000),
  /** How long a QMP command may take before it is given up (and asked again). */
  qmpTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
  /** A command unanswered this long shows the VM as `unresponsive`. */
  unresponsiveAfterMs: z.number().int().min(100).max(600_000).default(1000),
  /** A new generation of a flake VM must answer the guest agent this soon after boot, or it is rolled back. */
  healthTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
  /** Memory: a VM hidden this long is saved to disk and its QEMU ends (0: never). */
  hibernateAfterMs: z.number().int().min(0).max(7 * 24 * 3_600_000).default(900_000),
  /** Memory: over this much resident memory, hidden VMs are hibernated, least recently focused first. */
  memoryBudgetMiB: z.number().int().positive().max(1 << 24).nullable().default(null),
  /** Memory: a restore or cold start that would go over the budget waits until the saves that make room are done. */
  memoryBudgetStrict: z.boolean().default(true),
  /** Memory: restore a hibernated VM as soon as its workspace is created. */
  prewarmOnInit: z.boolean().default(true),
  /** Memory: restore the next/previous VM workspace's hibernated VM while the budget allows. */
  prewarmNeighbours: z.boolean().default(false),
  /** Memory: before pausing a hidden VM, shrink it to its working set (balloon, dropped caches). */
  balloonBeforePause: z.boolean().default(false),
  /** Backups: a VM with a backup setting and no backup yet is backed up this long after the daemon first sees it. */
  firstBackupAfterMs: z.number().int().min(0).max(7 * 24 * 3_600_000).default(300_000),
});
export type PolicyConfig = z.infer<typeof PolicyConfig>;

export const Config = z
  .strictObject({
    vms: z.record(VmName, VmConfig).default({}),
    policy: PolicyConfig.default(PolicyConfig.parse({})),
    /** The market: trusted catalogues and the IPFS gateway (config/market-schema.ts). */
    market: MarketConfig.optional(),
  })
  .superRefine((config, ctx) => {
    const owners = workspaceOwners(config.vms);
    for (const [name, vm] of Object.entries(config.vms)) {
      const owner = vm.workspace === undefined ? undefined : owners.get(vm.workspace);
      if (owner !== undefined && owner !== name) {
        ctx.addIssue({
          code: 'custom',
          path: ['vms', name, 'workspace'],
          message: `workspace "${vm.workspace}" is already bound to VM "${owner}" (one VM per workspace)`,
        });
      }
    }
  });
export type Config = z.infer<typeof Config>;

/** A problem with a path, the way users read them: `vms.acme.qemu: expected array`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
}
