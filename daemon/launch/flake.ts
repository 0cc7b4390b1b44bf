/**
 * Flake VMs: `{ "flake": "git+https://git.acme.example/net#acme" }`. Nothing
 * of the network's build is run on the host: hiboss builds its own
 * expression (nix/vm-image.nix) around the flake's
 * nixosConfigurations.NAME in the Nix sandbox — the guest's kernel, initrd,
 * kernel parameters and an image of its closure — reads that as data
 * (vm-manifest.ts) and starts the member's QEMU with an argv it builds itself
 * (flake-argv.ts), its uplink a passt of its own (uplink.ts).
 *
 * Each build is a generation (daemon/updates/generations.ts): the first start
 * builds one; later starts boot the selected generation without building;
 * updates (daemon/updates/updater.ts) build new ones through `build()`.
 */
import { execa, type ResultPromise } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { shortRevision, type Generation } from '../../api/schema.js';
import { parseFlakeVmRef } from '../../networks/flake-ref.js';
import { DEFAULT_KEEP_GENERATIONS, findGeneration, gcRootAlive, GenerationStore } from '../updates/generations.js';
import { audioArgsNow } from './audio.js';
import { DEFAULT_DISK_MIB, diskImage, flakeQemuArgv } from './flake-argv.js';
import type { LaunchCommand, LaunchContext, Launcher } from './launcher.js';
import { estimateBuild, type EstimateResult } from './dry-run.js';
import { FlakeMetadata, lockedInputs, MAX_JSON_BYTES, nixBuildArgs, nixMetadataArgs, VM_IMAGE_EXPRESSION, type LockedInput } from './nix-cli.js';
import { checkSandbox } from './sandbox-probe.js';
import { checkShares, shareArgs } from './shares.js';
import { startUplink, type UplinkOptions } from './uplink.js';
import { readVmBuild, VmBuildError } from './vm-manifest.js';

export { agentSocket, healthArgs } from './flake-argv.js';
export { nixBuildArgs, nixMetadataArgs } from './nix-cli.js';
import { errorMessage } from '../../shared/error-message.js';

export interface FlakeLauncherOptions {
  /** The nix binary (default `nix`, looked up on PATH). */
  nix?: string;
  /** Added to the environment of `nix build` (tests put a stand-in nix on PATH). */
  env?: Record<string, string>;
  /** How many lines of the build log a failure reports (default 25). */
  logTailLines?: number;
  /** hiboss's expression (default: the nix/vm-image.nix shipped with hiboss). */
  expression?: string;
  /** Where builds live; every file read from one must resolve inside it (default: the build's parent directory, /nix/store). */
  storeDir?: string;
  /** `qemu-img`, which makes the member's disk (default: on PATH). */
  qemuImg?: string;
  /** The VM's uplink (passt binary, outbound interfaces). */
  uplink?: UplinkOptions;
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
  /** Asked with the locked revision before building: a reason not to build it (already in use …, held for review), or null. */
  unless?: (locked: Locked) => string | null | Promise<string | null>;
  /** Build exactly this locked revision (an update the member approved): no look for a newer one. */
  approved?: Locked;
}

/** A flake's locked revision: what is built, and its inputs as its lock file pins them. */
export interface Locked {
  revision: string;
  url: string;
  lastModified: number | null;
  inputs: LockedInput[];
}

/** A build not made: `unless` said why. */
export interface BuildSkipped {
  skipped: string;
}

export class FlakeLauncher implements Launcher {
  readonly #nix: string;
  readonly #env: Record<string, string>;
  readonly #tailLines: number;
  readonly #options: FlakeLauncherOptions;

  constructor(options: FlakeLauncherOptions = {}) {
    this.#nix = options.nix ?? 'nix';
    this.#env = options.env ?? {};
    this.#tailLines = options.logTailLines ?? 25;
    this.#options = options;
  }

  /**
   * Boots the selected generation; builds one first when there is none (the
   * first start) or when the config now names another flake.
   */
  async prepare(context: LaunchContext): Promise<LaunchCommand> {
    const { name, vm, paths, progress, signal } = context;
    if (vm.flake === undefined) throw new Error(`${name}: not a flake VM (no "flake" setting)`);
    try {
      parseFlakeVmRef(vm.flake, name);
    } catch (error) {
      throw new Error(`${name}: ${errorMessage(error)}`);
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
      throw new Error(`${name}: ${errorMessage(error)}`);
    }
    if (generation) {
      progress(`booting generation ${generation.number} (${shortRevision(generation.revision)}, ${generation.outcome})`);
    } else {
      const built = await this.build({ name, flakeRef: vm.flake, store, progress, signal });
      if ('skipped' in built) throw new Error(`${name}: ${built.skipped}`); // no `unless` here: never
      generation = built;
      store.add(generation, vm.updates?.keepGenerations ?? DEFAULT_KEEP_GENERATIONS);
    }
    let build;
    try {
      build = readVmBuild(store.gcRoot(generation.number), this.#options.storeDir);
    } catch (error) {
      if (error instanceof VmBuildError) throw new Error(`${name}: generation ${generation.number}: ${error.message}`);
      throw error;
    }
    // The disk NixOS's run script kept ($NIX_DISK_IMAGE = STATE/CONFIGURATION.qcow2) stays the member's disk.
    const earlier = path.join(paths.stateDir, `${build.manifest.name}.qcow2`);
    if (!(await exists(diskImage(paths))) && (await exists(earlier))) {
      await fs.rename(earlier, diskImage(paths));
      progress(`the disk ${earlier} is now ${diskImage(paths)}`);
    }
    await this.#ensureDisk(name, diskImage(paths), build.manifest.diskSizeMiB ?? DEFAULT_DISK_MIB, signal);
    // The member's host directories: checked before anything else starts (a bad one refuses the start).
    const checkedShares = checkShares(name, vm.shares ?? [], ['/nix/store', ...(this.#options.storeDir ? [this.#options.storeDir] : [])]);
    const uplinkSocket = await startUplink(name, paths, this.#options.uplink, signal);
    if (uplinkSocket === null) progress('the host has no default route: the VM starts without an uplink (its VPN cannot reach its peers until it has one)');
    const audio = await audioArgsNow(vm, process.env);
    const shares = shareArgs(checkedShares, paths);
    return { ...flakeQemuArgv({ name, vm, paths, build, uplinkSocket, audio, shares }), generation: generation.number };
  }

  /** The member's disk, made once (atomically: a temp file renamed into place), sized as the network asks. */
  async #ensureDisk(name: string, disk: string, sizeMiB: number, signal: AbortSignal): Promise<void> {
    if (await exists(disk)) return;
    const temp = `${disk}.new`;
    const result = await execa(this.#options.qemuImg ?? 'qemu-img', ['create', '-q', '-f', 'qcow2', temp, `${sizeMiB}M`], {
      reject: false,
      stdin: 'ignore',
      cancelSignal: signal,
      maxBuffer: 64 * 1024,
    });
    if (result.failed) {
      await fs.rm(temp, { force: true });
      throw new Error(`${name}: cannot make the VM's disk ${disk}: ${String(result.stderr).trim() || result.shortMessage}`);
    }
    await fs.chmod(temp, 0o600);
    await fs.rename(temp, disk);
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
    const unsafe = await checkSandbox({ nix: this.#nix, env: this.#env, signal, progress });
    if (unsafe !== null) throw new Error(`${name}: refusing to build ${flake}: ${unsafe}`);
    const locked = request.approved ?? (await this.#locked(name, flake, local, request));
    const { revision } = locked;
    progress(`${flake} is at ${shortRevision(revision)}`);
    const skip = (await request.unless?.(locked)) ?? null;
    if (skip !== null) return { skipped: skip };

    const { number, outLink } = store.prepareNext();
    const target = `${flake}#${configuration}`;
    try {
      await this.#nixRun(name, nixBuildArgs(locked.url, configuration, outLink, this.#options.expression ?? VM_IMAGE_EXPRESSION), {
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
    // Read as the boot will read it: a build hiboss cannot boot is no generation.
    let closure: string;
    try {
      const { manifest } = readVmBuild(outLink, this.#options.storeDir);
      closure = `closure of ${manifest.closurePaths.length} store paths, ${(manifest.closureBytes / 2 ** 20).toFixed(1)} MiB`;
    } catch (error) {
      store.discard(number);
      throw new Error(`${name}: the build of ${target} is not a VM hiboss can boot: ${(error as Error).message}`);
    }
    progress(`built generation ${number}: ${outPath} (${closure})`);
    return {
      number,
      flake: flakeRef,
      revision,
      lockedUrl: locked.url,
      lastModified: locked.lastModified,
      outPath,
      builtAt: Date.now(),
      outcome: 'new',
      failure: null,
      judgedAt: null,
      inputs: locked.inputs,
    };
  }

  /** The flake's locked revision (the newest with `refresh`) and its inputs. */
  async #locked(name: string, flake: string, local: boolean, request: BuildRequest): Promise<Locked> {
    const metadataText = await this.#nixRun(name, nixMetadataArgs(flake, { refresh: request.refresh, updateLock: request.refresh && local }), {
      what: request.refresh ? `looking for the newest revision of ${flake}` : `reading the locked revision of ${flake}`,
      failure: (how, log) =>
        `${name}: cannot read the revision of ${flake} (${how})${request.refresh ? ' — offline, or the lock file cannot be refreshed' : ''}; last lines:\n${log}`,
      progress: request.progress,
      signal: request.signal,
      lowPriority: request.lowPriority,
    });
    const metadata = parseMetadata(name, metadataText);
    return {
      revision: metadata.revision ?? metadata.locked?.rev ?? metadata.locked?.narHash ?? 'unknown',
      url: metadata.url,
      lastModified: metadata.lastModified ?? metadata.locked?.lastModified ?? null,
      inputs: lockedInputs(metadata),
    };
  }

  /** What building LOCKED-URL#CONFIGURATION will cost (a dry run: nothing is built). */
  estimate(lockedUrl: string, configuration: string, signal: AbortSignal): Promise<EstimateResult> {
    return estimateBuild(lockedUrl, configuration, { nix: this.#nix, env: this.#env, signal, ...(this.#options.expression ? { expression: this.#options.expression } : {}) });
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
        maxBuffer: MAX_JSON_BYTES,
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

function parseMetadata(name: string, text: string): FlakeMetadata {
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

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}
