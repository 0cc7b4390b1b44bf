/**
 * Flake VMs: `{ "flake": "git+https://git.acme.example/net#acme" }` is built
 * with `nix build … FLAKE#nixosConfigurations.NAME.config.system.build.vm`
 * and run through the NixOS run script (bin/run-NAME-vm). That script passes
 * $QEMU_OPTS to QEMU after its own options, which is where hiboss's control
 * options (QMP socket, name, pidfile) go, and keeps the disk at $NIX_DISK_IMAGE.
 */
import { execa, type ResultPromise } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseFlakeVmRef } from '../../networks/flake-ref.js';
import { controlArgs, type LaunchCommand, type LaunchContext, type Launcher } from './launcher.js';

export interface FlakeLauncherOptions {
  /** The nix binary (default `nix`, looked up on PATH). */
  nix?: string;
  /** Added to the environment of `nix build` (tests put a stand-in nix on PATH). */
  env?: Record<string, string>;
  /** How many lines of the build log a failure reports (default 25). */
  logTailLines?: number;
}

/** The build flags, also for anyone reproducing a build by hand. */
export function nixBuildArgs(flake: string, configuration: string): string[] {
  return [
    'build',
    // Flakes may be off in the user's nix.conf; these builds need them regardless.
    '--extra-experimental-features',
    'nix-command flakes',
    '--no-link',
    '--print-out-paths',
    // Build logs on stderr, so progress shows more than "building …".
    '--print-build-logs',
    `${flake}#nixosConfigurations.${configuration}.config.system.build.vm`,
  ];
}

const RUN_SCRIPT = /^run-.+-vm$/;
/** $QEMU_OPTS is split on whitespace (and globbed) by the run script. */
const UNSPLITTABLE = /[\s*?[\]]/;

export class FlakeLauncher implements Launcher {
  readonly #nix: string;
  readonly #env: Record<string, string>;
  readonly #tailLines: number;

  constructor(options: FlakeLauncherOptions = {}) {
    this.#nix = options.nix ?? 'nix';
    this.#env = options.env ?? {};
    this.#tailLines = options.logTailLines ?? 25;
  }

  async prepare(context: LaunchContext): Promise<LaunchCommand> {
    const { name, vm, paths, progress, signal } = context;
    if (vm.flake === undefined) throw new Error(`${name}: not a flake VM (no "flake" setting)`);
    let flake: string;
    let configuration: string;
    try {
      ({ flake, configuration } = parseFlakeVmRef(vm.flake, name));
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message}`);
    }

    const qemuOpts = controlArgs(name, paths);
    const unsplittable = qemuOpts.find((arg) => UNSPLITTABLE.test(arg));
    if (unsplittable !== undefined) {
      throw new Error(`${name}: "${unsplittable}" has whitespace or glob characters, which the NixOS run script cannot pass to QEMU`);
    }
    signal.throwIfAborted();

    const outPath = await this.#build(name, flake, configuration, progress, signal);
    const script = await findRunScript(name, outPath);
    await fs.mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
    return {
      file: script,
      args: [],
      env: {
        QEMU_OPTS: qemuOpts.join(' '),
        NIX_DISK_IMAGE: path.join(paths.stateDir, `${configuration}.qcow2`),
      },
    };
  }

  async #build(name: string, flake: string, configuration: string, progress: (line: string) => void, signal: AbortSignal): Promise<string> {
    const tail: string[] = [];
    const remember = (line: string) => {
      tail.push(line);
      if (tail.length > this.#tailLines) tail.shift();
    };
    const target = `${flake}#${configuration}`;
    progress(`building ${target}`);

    const build: ResultPromise<{ reject: false; stdin: 'ignore'; cancelSignal: AbortSignal; env: Record<string, string>; stripFinalNewline: false }> =
      execa(this.#nix, nixBuildArgs(flake, configuration), {
        reject: false,
        stdin: 'ignore',
        cancelSignal: signal,
        env: this.#env,
        stripFinalNewline: false,
      });
    // nix reports progress and build logs on stderr, the out path on stdout.
    const streaming = (async () => {
      for await (const line of build.iterable({ from: 'stderr' })) {
        remember(line);
        progress(line);
      }
    })();
    const result = await build;
    await streaming.catch(() => undefined);

    if (result.isCanceled || signal.aborted) throw new Error(`${name}: build of ${target} cancelled`, { cause: signal.reason });
    if (result.failed) {
      const how = result.exitCode !== undefined ? `exit code ${result.exitCode}` : (result.signal ?? result.shortMessage);
      const log = tail.length ? tail.join('\n') : '(no output)';
      throw new Error(`${name}: nix build of ${target} failed (${how}); last lines of the build log:\n${log}`);
    }
    const outPath = String(result.stdout).split('\n').map((line) => line.trim()).filter(Boolean).at(-1);
    if (!outPath || !path.isAbsolute(outPath)) {
      throw new Error(`${name}: nix build of ${target} printed no store path (stdout: ${JSON.stringify(String(result.stdout).slice(0, 200))})`);
    }
    progress(`built ${outPath}`);
    return outPath;
  }
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
