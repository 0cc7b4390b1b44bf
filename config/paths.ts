/**
 * Where the daemon keeps things: $XDG_RUNTIME_DIR/hiboss/NAME (0700) for the QMP
 * socket, pidfile and log of each VM; $XDG_STATE_HOME/hiboss/NAME for what
 * outlives a run (disks). VM names are validated before they get here, so a
 * name never escapes its directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VmName } from './schema.js';
import { errorCode } from '../shared/error-message.js';

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

/**
 * Creates a directory 0700, or insists on an existing one: a real directory (a
 * symlink is refused, not followed: it could point the VM's socket and log at
 * someone else's directory), owned by us, tightened to 0700.
 */
function privateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  }
  const stat = fs.lstatSync(dir);
  if (stat.isSymbolicLink()) throw new RuntimeDirError(`${dir} is a symbolic link; hiboss keeps its files only in a real directory of its own (remove the link)`);
  if (!stat.isDirectory()) throw new RuntimeDirError(`${dir} is not a directory`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new RuntimeDirError(`${dir} belongs to uid ${stat.uid}, not to you (uid ${process.getuid()}); hiboss will not use it`);
  }
  if ((stat.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
}

/** A directory we made: real (not a symlink), ours, 0700. Checked before writing a log line into it. */
export function isPrivateDir(dir: string): boolean {
  try {
    const stat = fs.lstatSync(dir);
    return stat.isDirectory() && (stat.mode & 0o777) === 0o700 && (typeof process.getuid !== 'function' || stat.uid === process.getuid());
  } catch {
    return false;
  }
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

/** The daemon's own roots: their parents ($XDG_RUNTIME_DIR, $XDG_STATE_HOME) may be created as usual. */
export function ensureRoots(roots: RuntimeRoots): void {
  for (const root of [roots.runRoot, roots.stateRoot]) {
    fs.mkdirSync(path.dirname(root), { recursive: true, mode: 0o700 });
    privateDir(root);
  }
}

export function ensureVmDirs(roots: RuntimeRoots, paths: VmPaths): void {
  ensureRoots(roots);
  privateDir(paths.runDir);
  privateDir(paths.stateDir);
}

/** VM directories present in the runtime dir (candidates for adoption). */
export function existingVmDirs(roots: RuntimeRoots): string[] {
  try {
    return fs
      .readdirSync(roots.runRoot, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && VmName.safeParse(entry.name).success) // symlinks are not followed
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}
