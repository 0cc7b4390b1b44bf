/**
 * Finding the WM's socket the way a user service must: a systemd user unit often
 * runs without SWAYSOCK, so after the environment and the WMs' own
 * --get-socketpath, fall back to the sockets in $XDG_RUNTIME_DIR.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WmConnectionError } from './errors.js';
import { errorCode } from '../shared/error-message.js';

export interface DiscoveredSocket {
  path: string;
  /** Where the path came from, for logs and error messages. */
  source: string;
}

function isSocket(file: string): boolean {
  try {
    return fs.statSync(file).isSocket();
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

/** `sway|i3 --get-socketpath` (node's own execFile: the daemon does not load execa for this). */
function askWm(binary: 'sway' | 'i3', env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, ['--get-socketpath'], { env, timeout: 2000, maxBuffer: 64 * 1024 }, (error, stdout) => {
      const out = String(stdout).trim();
      resolve(error === null && out !== '' ? out : undefined);
    });
  });
}

/** Sockets in the runtime dir: sway-ipc.UID.PID.sock and i3/ipc-socket.PID, live ones, newest first. */
export function runtimeDirSockets(runtimeDir: string, uid = process.getuid?.() ?? 0): string[] {
  const found: { file: string; ownUid: boolean; mtime: number }[] = [];
  const consider = (file: string, owner: number | undefined, pid: number) => {
    if (!pidAlive(pid) || !isSocket(file)) return;
    found.push({ file, ownUid: owner === uid, mtime: fs.statSync(file).mtimeMs });
  };
  for (const entry of safeReaddir(runtimeDir)) {
    const m = /^sway-ipc\.(\d+)\.(\d+)\.sock$/.exec(entry);
    if (m) consider(path.join(runtimeDir, entry), Number(m[1]), Number(m[2]));
  }
  for (const entry of safeReaddir(path.join(runtimeDir, 'i3'))) {
    const m = /^ipc-socket\.(\d+)$/.exec(entry);
    if (m) consider(path.join(runtimeDir, 'i3', entry), uid, Number(m[1]));
  }
  found.sort((a, b) => Number(b.ownUid) - Number(a.ownUid) || b.mtime - a.mtime);
  return found.map((f) => f.file);
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export async function discoverSocket(env: NodeJS.ProcessEnv = process.env): Promise<DiscoveredSocket> {
  const tried: string[] = [];
  for (const name of ['SWAYSOCK', 'I3SOCK'] as const) {
    const value = env[name];
    if (!value) continue;
    if (isSocket(value)) return { path: value, source: name };
    tried.push(`${name}=${value} is not a socket`);
  }
  for (const binary of ['sway', 'i3'] as const) {
    const answer = await askWm(binary, env);
    if (answer && isSocket(answer)) return { path: answer, source: `${binary} --get-socketpath` };
  }
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (runtimeDir) {
    const [first] = runtimeDirSockets(runtimeDir);
    if (first) return { path: first, source: `$XDG_RUNTIME_DIR` };
    tried.push(`no live sway-ipc.*.sock or i3/ipc-socket.* in ${runtimeDir}`);
  } else {
    tried.push('XDG_RUNTIME_DIR is unset');
  }
  throw new WmConnectionError(
    `no sway or i3 IPC socket found (${['SWAYSOCK and I3SOCK unset or stale', ...tried].join('; ')})`,
  );
}
