/**
 * Where the daemon keeps things: $XDG_RUNTIME_DIR/hiboss/NAME (0700) for the QMP
 * socket, pidfile and log of each VM; $XDG_STATE_HOME/hiboss/NAME for what
 * outlives a run (disks). VM names are validated before they get here, so a
 * name never escapes its directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VmName } from './schema.js';

/** Paths the daemon owns for one VM. */
export interface VmPaths {
  /** $XDG_RUNTIME_DIR/hiboss/NAME (0700) */
  runDir: string;
  qmpSocket: string;
  pidFile: string;
  /** QEMU's stdout/stderr and the serial console when the argv sends it there */
  logFile: string;
  /** $XDG_STATE_HOME/hiboss/NAME: disks and other state that outlives a run */
  stateDir: string;
}

/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export class RuntimeDirError extends Error {
  override name = 'RuntimeDirError';
}

export interface RuntimeRoots {
  runRoot: string;
  stateRoot: string;
}

export function runtimeRoots(env: NodeJS.ProcessEnv = process.env): RuntimeRoots {
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (!runtimeDir) throw new RuntimeDirError('XDG_RUNTIME_DIR is not set: hiboss keeps its sockets there (a user session provides it)');
  const stateHome = env.XDG_STATE_HOME || path.join(env.HOME ?? '/', '.local', 'state');
  return { runRoot: path.join(runtimeDir, 'hiboss'), stateRoot: path.join(stateHome, 'hiboss') };
}

/** Creates a directory 0700 and insists on it (an existing one with a looser mode is tightened). */
function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

export function vmPaths(roots: RuntimeRoots, name: string): VmPaths {
  VmName.parse(name);
  const runDir = path.join(roots.runRoot, name);
  const paths = {
    runDir,
    qmpSocket: path.join(runDir, 'qmp.sock'),
    pidFile: path.join(runDir, 'qemu.pid'),
    logFile: path.join(runDir, 'qemu.log'),
    stateDir: path.join(roots.stateRoot, name),
  };
  const bytes = Buffer.byteLength(paths.qmpSocket);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new RuntimeDirError(
      `the QMP socket path ${paths.qmpSocket} is ${bytes} bytes; unix sockets allow ${MAX_SOCKET_PATH_BYTES}: use a shorter XDG_RUNTIME_DIR or VM name`,
    );
  }
  return paths;
}

export function ensureVmDirs(roots: RuntimeRoots, paths: VmPaths): void {
  privateDir(roots.runRoot);
  privateDir(paths.runDir);
  privateDir(paths.stateDir);
}

/** VM directories present in the runtime dir (candidates for adoption). */
export function existingVmDirs(roots: RuntimeRoots): string[] {
  try {
    return fs.readdirSync(roots.runRoot).filter((name) => VmName.safeParse(name).success);
  } catch {
    return [];
  }
}
