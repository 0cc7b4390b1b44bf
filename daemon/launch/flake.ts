/**
 * Flake VMs: `{ "flake": "git+https://git.acme.example/net#acme" }` is built
 * with `nix build … FLAKE#nixosConfigurations.NAME.config.system.build.vm`
 * and run through the NixOS run script (bin/run-NAME-vm). That script passes
 * $QEMU_OPTS to QEMU after its own options, which is where hiboss's control
 * options (QMP socket, name, pidfile) go, and keeps the disk at $NIX_DISK_IMAGE.
 *
 * Each build is a generation (daemon/updates/generations.ts): the first start
 * builds one; later starts boot the selected generation without building;
 * updates (daemon/updates/updater.ts) build new ones through `build()`.
 */
import { execa, type ResultPromise } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { shortRevision, type Generation } from '../../api/schema.js';
import { parseFlakeVmRef } from '../../networks/flake-ref.js';
import { DEFAULT_KEEP_GENERATIONS, findGeneration, gcRootAlive, GenerationStore } from '../updates/generations.js';
import { balloonArgs } from './balloon.js';
import { audioArgsNow } from './audio.js';
import { controlArgs, type LaunchCommand, type LaunchContext, type Launcher, type VmPaths } from './launcher.js';

export interface FlakeLauncherOptions {
  /** The nix binary (default `nix`, looked up on PATH). */
  nix?: string;
  /** Added to the environment of `nix build` (tests put a stand-in nix on PATH). */
  env?: Record<string, string>;
  /** How many lines of the build log a failure reports (default 25). */
  logTailLines?: number;
}

/** `nix flake metadata`: the locked revision a build will use. `refresh`: look for the newest one. */
export function nixMetadataArgs(flake: string, options: { refresh?: boolean; updateLock?: boolean } = {}): string[] {
  return [
    'flake',
    'metadata',
    '--extra-experimental-features',
    'nix-command flakes',
    '--json',
    // A remote flake: fetch its newest revision (the admin's lock file comes with it).
    ...(options.refresh ? ['--refresh'] : []),
    // A local network flake: its inputs (hiboss, nixpkgs) are the member's to update.
    ...(options.updateLock ? ['--recreate-lock-file'] : []),
    flake,
  ];
}

/**
 * The build flags, also for anyone reproducing a build by hand. `outLink` is the
 * generation's GC root (STATE/generations/N/result).
 */
export function nixBuildArgs(flake: string, configuration: string, outLink: string): string[] {
  return [
    'build',
    // Flakes may be off in the user's nix.conf; these builds need them regardless.
    '--extra-experimental-features',
    'nix-command flakes',
    // The GC root; it also says where the build is (--print-out-paths needs Nix ≥ 2.11).
    '--out-link',
    outLink,
    // Build logs on stderr, so progress shows more than "building …".
    '--print-build-logs',
    `${flake}#nixosConfigurations.${configuration}.config.system.build.vm`,
  ];
}

/** What `nix flake metadata --json` says that we use; the rest is ignored. */
const FlakeMetadata = z.looseObject({
  url: z.string().min(1).max(4096),
  revision: z.string().max(256).optional(),
  lastModified: z.number().int().optional(),
  locked: z.looseObject({ rev: z.string().max(256).optional(), narHash: z.string().max(256).optional(), lastModified: z.number().int().optional() }).optional(),
});
const MAX_METADATA_BYTES = 4 * 1024 * 1024;

const RUN_SCRIPT = /^run-.+-vm$/;
/** $QEMU_OPTS is split on whitespace (and globbed) by the run script. */
const UNSPLITTABLE = /[\s*?[\]]/;

/** The guest agent's socket (virtio-serial port org.qemu.guest_agent.0), beside the QMP socket. */
export function agentSocket(paths: VmPaths): string {
  return path.join(paths.runDir, 'qga.sock');
}

/**
 * What a flake VM's QEMU gets besides the control options: the guest agent's
 * channel (health after an update: `guest-ping`) and a pvpanic device (a guest
 * panic becomes QMP GUEST_PANICKED). QEMU 7.2's default panic action powers
 * the VM off after the event, which the health window counts as a failure.
 */
export function healthArgs(paths: VmPaths): string[] {
  return [
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=qga0,path=${agentSocket(paths)},server=on,wait=off`,
    '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    '-device', 'pvpanic-pci',
  ];
}

export interface BuildRequest {
  name: string;
  /** The config's `flake` (FLAKE#NAME). */
  flakeRef: string;
  store: GenerationStore;
  progress: (line: string) => void;
  signal: AbortSignal;
  /** Look for the flake's newest revision (an update) rather than what nix has cached. */
  refresh?: boolean;
  /** Run nix at the lowest CPU priority (automatic updates must not starve the focused VM). */
  lowPriority?: boolean;
  /** Asked with the locked revision before building: a reason not to build it (already in use …), or null. */
  unless?: (revision: string) => string | null;
}

/** A build not made: `unless` said why. */
export interface BuildSkipped {
  skipped: string;
}

export class FlakeLauncher implements Launcher {
  readonly #nix: string;
  readonly #env: Record<string, string>;
  readonly #tailLines: number;

  constructor(options: FlakeLauncherOptions = {}) {
    this.#nix = options.nix ?? 'nix';
    this.#env = options.env ?? {};
    this.#tailLines = options.logTailLines ?? 25;
  }

  /**
   * Boots the selected generation; builds one first when there is none (the
   * first start) or when the config now names another flake.
   */
  async prepare(context: LaunchContext): Promise<LaunchCommand> {
    const { name, vm, paths, progress, signal } = context;
    if (vm.flake === undefined) throw new Error(`${name}: not a flake VM (no "flake" setting)`);
    let configuration: string;
    try {
      ({ configuration } = parseFlakeVmRef(vm.flake, name));
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message}`);
    }

    const qemuOpts = [...controlArgs(name, paths), ...healthArgs(paths), ...balloonArgs(vm), ...(await audioArgsNow(vm, process.env))];
    const unsplittable = qemuOpts.find((arg) => UNSPLITTABLE.test(arg));
    if (unsplittable !== undefined) {
      throw new Error(`${name}: "${unsplittable}" has whitespace or glob characters, which the NixOS run script cannot pass to QEMU`);
    }
    signal.throwIfAborted();

    await fs.mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
    const store = new GenerationStore(paths.stateDir);
    let generation: Generation | undefined;
    try {
      const data = store.read();
      const selected = findGeneration(data, data.selected);
      if (selected && selected.flake === vm.flake && gcRootAlive(store.gcRoot(selected.number))) generation = selected;
      else if (selected && selected.flake !== vm.flake) progress(`the flake changed (${selected.flake} → ${vm.flake}): building it`);
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message}`);
    }
    if (generation) {
      progress(`booting generation ${generation.number} (${shortRevision(generation.revision)}, ${generation.outcome})`);
    } else {
      const built = await this.build({ name, flakeRef: vm.flake, store, progress, signal });
      if ('skipped' in built) throw new Error(`${name}: ${built.skipped}`); // no `unless` here: never
      generation = built;
      store.add(generation, vm.updates?.keepGenerations ?? DEFAULT_KEEP_GENERATIONS);
    }
    const script = await findRunScript(name, store.gcRoot(generation.number));
    return {
      file: script,
      args: [],
      env: {
        QEMU_OPTS: qemuOpts.join(' '),
        NIX_DISK_IMAGE: path.join(paths.stateDir, `${configuration}.qcow2`),
      },
      generation: generation.number,
    };
  }

  /**
   * Builds the flake's locked revision (the newest with `refresh`) into a new
   * generation: its GC root is made by nix itself (--out-link). The caller
   * records it; on failure its directory is gone and the error carries the
   * tail of the build log.
   */
  async build(request: BuildRequest): Promise<Generation | BuildSkipped> {
    const { name, flakeRef, store, progress, signal } = request;
    const { flake, configuration } = parseFlakeVmRef(flakeRef, name);
    const local = flake.startsWith('path:') || flake.startsWith('/') || flake.startsWith('git+file:');
    const metadataText = await this.#nixRun(name, nixMetadataArgs(flake, { refresh: request.refresh, updateLock: request.refresh && local }), {
      what: request.refresh ? `looking for the newest revision of ${flake}` : `reading the locked revision of ${flake}`,
      failure: (how, log) =>
        `${name}: cannot read the revision of ${flake} (${how})${request.refresh ? ' — offline, or the lock file cannot be refreshed' : ''}; last lines:\n${log}`,
      progress,
      signal,
      lowPriority: request.lowPriority,
    });
    const metadata = parseMetadata(name, metadataText);
    const revision = metadata.revision ?? metadata.locked?.rev ?? metadata.locked?.narHash ?? 'unknown';
    progress(`${flake} is at ${shortRevision(revision)}`);
    const skip = request.unless?.(revision) ?? null;
    if (skip !== null) return { skipped: skip };

    const { number, outLink } = store.prepareNext();
    const target = `${flake}#${configuration}`;
    try {
      await this.#nixRun(name, nixBuildArgs(metadata.url, configuration, outLink), {
        what: `building ${target} (generation ${number})`,
        failure: (how, log) => `${name}: nix build of ${target} failed (${how}); last lines of the build log:\n${log}`,
        progress,
        signal,
        lowPriority: request.lowPriority,
      });
    } catch (error) {
      store.discard(number);
      throw error;
    }
    const outPath = gcRootAlive(outLink) ? await fs.readlink(outLink) : undefined;
    if (!outPath || !path.isAbsolute(outPath)) {
      store.discard(number);
      throw new Error(`${name}: nix build of ${target} made no GC root at ${outLink}`);
    }
    progress(`built generation ${number}: ${outPath}`);
    return {
      number,
      flake: flakeRef,
      revision,
      lockedUrl: metadata.url,
      lastModified: metadata.lastModified ?? metadata.locked?.lastModified ?? null,
      outPath,
      builtAt: Date.now(),
      outcome: 'new',
      failure: null,
      judgedAt: null,
    };
  }

  /** Runs nix, its stderr streamed as progress; resolves with its stdout. */
  async #nixRun(
    name: string,
    args: string[],
    how: { what: string; failure: (how: string, log: string) => string; progress: (line: string) => void; signal: AbortSignal; lowPriority?: boolean | undefined },
  ): Promise<string> {
    const tail: string[] = [];
    const remember = (line: string) => {
      tail.push(line);
      if (tail.length > this.#tailLines) tail.shift();
    };
    how.progress(how.what);
    // Low priority from the first instruction on: `nice` execs nix, and what nix starts inherits it.
    const [file, argv] = how.lowPriority ? ['nice', ['-n', '19', this.#nix, ...args]] : [this.#nix, args];
    const run: ResultPromise<{ reject: false; stdin: 'ignore'; cancelSignal: AbortSignal; env: Record<string, string>; stripFinalNewline: false; maxBuffer: number }> =
      execa(file, argv, {
        reject: false,
        stdin: 'ignore',
        cancelSignal: how.signal,
        env: this.#env,
        stripFinalNewline: false,
        maxBuffer: MAX_METADATA_BYTES,
      });
    // nix reports progress and build logs on stderr, results on stdout.
    const streaming = (async () => {
      for await (const line of run.iterable({ from: 'stderr' })) {
        remember(line);
        how.progress(line);
      }
    })();
    const result = await run;
    await streaming.catch(() => undefined);
    if (result.isCanceled || how.signal.aborted) throw new Error(`${name}: ${how.what}: cancelled`, { cause: how.signal.reason });
    if (result.failed) {
      const code = result.exitCode !== undefined ? `exit code ${result.exitCode}` : (result.signal ?? result.shortMessage ?? 'failed');
      throw new Error(how.failure(code, tail.length ? tail.join('\n') : '(no output)'));
    }
    return String(result.stdout);
  }
}

function parseMetadata(name: string, text: string): z.infer<typeof FlakeMetadata> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${name}: nix flake metadata printed no JSON (${JSON.stringify(text.slice(0, 200))})`);
  }
  const parsed = FlakeMetadata.safeParse(json);
  if (!parsed.success) throw new Error(`${name}: nix flake metadata: unexpected output: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

async function findRunScript(name: string, outPath: string): Promise<string> {
  const bin = path.join(outPath, 'bin');
  const entries = await fs.readdir(bin).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${name}: ${outPath} is not a NixOS VM (${error.code === 'ENOENT' ? 'no bin/ directory' : error.message})`);
  });
  const scripts = entries.filter((entry) => RUN_SCRIPT.test(entry));
  if (scripts.length !== 1) {
    throw new Error(`${name}: expected one bin/run-*-vm in ${outPath}, found ${scripts.length ? scripts.join(', ') : 'none'}`);
  }
  return path.join(bin, scripts[0]!);
}
