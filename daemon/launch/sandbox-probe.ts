/**
 * Does the Nix that builds a network's VM build in its sandbox? On a
 * multi-user install the nix daemon's settings govern builds, not what the
 * client's `nix show-config` prints, and with `sandbox-fallback` a Nix that
 * cannot set up its sandbox builds without one. So hiboss asks the builds
 * themselves: nix/sandbox-probe.nix is a tiny derivation whose builder fails
 * when it sees the host's files; it must build, and its `__noChroot` twin (what
 * `sandbox = relaxed` lets a derivation escape with) must not run.
 *
 * The probe's derivation carries a key of the Nix setup (the settings files
 * and the environment nix reads), so nix's own store caches one result per
 * setup; this process remembers the keys it has seen pass.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileBounded } from '../../config/read-bounded.js';

/** hiboss's probe expression (shipped with hiboss). */
export const SANDBOX_PROBE_EXPRESSION = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../nix/sandbox-probe.nix');

const FLAKES = ['--extra-experimental-features', 'nix-command flakes'];
const MARKER = /hiboss-sandbox-probe: the build sees the host's (\/[\w/.-]{1,64})/;
const MAX_OUTPUT_BYTES = 256 * 1024;
const MAX_CONF_BYTES = 1024 * 1024;

/** The environment variables through which nix finds its settings and store. */
const SETUP_VARIABLES = ['NIX_CONFIG', 'NIX_REMOTE', 'NIX_CONF_DIR', 'NIX_USER_CONF_FILES', 'XDG_CONFIG_HOME', 'XDG_CONFIG_DIRS', 'HOME', 'PATH'] as const;

/** The settings files nix reads (nix.conf(5)): the system's, then the user's. */
export function nixConfFiles(env: Record<string, string | undefined>): string[] {
  const system = path.join(env.NIX_CONF_DIR ?? '/etc/nix', 'nix.conf');
  if (env.NIX_USER_CONF_FILES !== undefined) return [system, ...env.NIX_USER_CONF_FILES.split(':').filter(Boolean)];
  const home = env.HOME ?? os.homedir();
  const dirs = [env.XDG_CONFIG_HOME ?? path.join(home, '.config'), ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':').filter(Boolean)];
  return [system, ...dirs.map((dir) => path.join(dir, 'nix', 'nix.conf'))];
}

/** A key of the Nix setup: the nix binary, the variables above, and the text of each settings file. */
export function nixSetupKey(nix: string, env: Record<string, string | undefined>): string {
  const hash = createHash('sha256');
  hash.update(`nix\0${nix}\0`);
  for (const name of SETUP_VARIABLES) hash.update(`${name}\0${env[name] ?? '\x01unset'}\0`);
  for (const file of nixConfFiles(env)) {
    let text: string;
    try {
      text = readFileBounded(file, MAX_CONF_BYTES);
    } catch (error) {
      text = `\x01${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`;
    }
    hash.update(`${file}\0${text}\0`);
  }
  return hash.digest('hex').slice(0, 32);
}

/** `nix build` of the probe (no GC root: the store path is its own cache). */
export function sandboxProbeArgs(key: string, escape: boolean, expression = SANDBOX_PROBE_EXPRESSION): string[] {
  return [
    'build',
    ...FLAKES,
    '--option',
    'accept-flake-config',
    'false',
    '--no-link',
    '--print-build-logs',
    '--file',
    expression,
    '--argstr',
    'setup',
    key,
    ...(escape ? ['--arg', 'escape', 'true'] : []),
  ];
}

/** The outcome of one probe build: did it build, and did its builder see the host (which path)? */
export interface ProbeRun {
  built: boolean;
  sawHost: string | null;
  log: string;
}

/** Reads a probe build's exit and log (bounded: only the tail is kept for messages). */
export function probeRun(exitOk: boolean, stderr: string): ProbeRun {
  const bounded = stderr.length > MAX_OUTPUT_BYTES ? stderr.slice(-MAX_OUTPUT_BYTES) : stderr;
  const sawHost = MARKER.exec(bounded)?.[1] ?? null;
  return { built: exitOk && sawHost === null, sawHost, log: bounded.split('\n').slice(-8).join('\n').trim() };
}

const FIX = 'Set "sandbox = true" in the nix.conf your Nix builds with (the nix daemon\'s, /etc/nix/nix.conf, on a multi-user install) and make sure the sandbox can be set up there (sandbox-fallback = false shows why not).';

/** null when both probes say the builds are sandboxed; else why hiboss refuses to build. */
export function sandboxVerdict(plain: ProbeRun, escape: ProbeRun | null): string | null {
  if (plain.sawHost !== null) return `the Nix sandbox is off: a test build saw the host's ${plain.sawHost}, so a network's build could read and change your files. ${FIX}`;
  if (!plain.built)
    return (
      'whether nix builds in its sandbox is unknown: its test build (nix/sandbox-probe.nix, builder /bin/sh) did not run. ' +
      `If the sandbox has no /bin/sh, add one to sandbox-paths (NixOS and the Nix installer do). Last lines:\n${plain.log || '(no output)'}`
    );
  if (escape?.sawHost)
    return `the Nix sandbox is "relaxed": a build that asks for no sandbox (__noChroot) ran outside it and saw the host's ${escape.sawHost}, and a network's build can ask that. ${FIX}`;
  return null;
}

const passed = new Set<string>();

/**
 * Runs the probes (unless this setup passed before in this process): null when
 * builds are sandboxed, else the reason to refuse.
 */
export async function checkSandbox(options: {
  nix: string;
  env: Record<string, string>;
  signal: AbortSignal;
  progress: (line: string) => void;
  expression?: string;
}): Promise<string | null> {
  const env = { ...process.env, ...options.env };
  const key = nixSetupKey(options.nix, env);
  if (passed.has(key)) return null;
  options.progress('checking that nix builds in its sandbox');
  const run = async (escape: boolean): Promise<ProbeRun> => {
    const result = await execa(options.nix, sandboxProbeArgs(key, escape, options.expression), {
      reject: false,
      stdin: 'ignore',
      cancelSignal: options.signal,
      env: options.env,
      maxBuffer: MAX_OUTPUT_BYTES,
    });
    if (result.isCanceled || options.signal.aborted) throw new Error('checking the Nix sandbox: cancelled', { cause: options.signal.reason });
    return probeRun(!result.failed, String(result.stderr));
  };
  const plain = await run(false);
  const verdict = sandboxVerdict(plain, plain.built ? await run(true) : null);
  if (verdict === null) passed.add(key);
  return verdict;
}
