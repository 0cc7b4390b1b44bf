/**
 * Every process a test starts goes through here, so every one of them is ended
 * by its pid — at teardown, and also when a test fails or the file crashes.
 */
import { execa, type ResultPromise, type Options } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../shared/error-message.js';
import { bound } from './bounds.js';

const live = new Set<number>();
const cleanups = new Set<() => void>();

/** Signals the process group (started detached) or, failing that, the process. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Registers a synchronous undo for something a test made (a sandbox and the QEMUs
 * under it) that must not outlive the file: it runs when the file ends without
 * undoing it — at exit, and on SIGTERM (the runner's timeout) or SIGINT. Returns
 * the function that forgets it, for when the test undoes it itself.
 */
export function atTermination(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => void cleanups.delete(cleanup);
}

function killAll(): void {
  for (const pid of live) signal(pid, 'SIGKILL');
  live.clear();
  for (const cleanup of [...cleanups].reverse()) {
    try {
      cleanup();
    } catch (error) {
      process.stderr.write(`cleanup at termination failed: ${errorMessage(error)}\n`);
    }
  }
  cleanups.clear();
}
process.on('exit', killAll);
for (const [name, number] of [['SIGINT', 2], ['SIGTERM', 15]] as const) {
  process.on(name, () => {
    process.stderr.write(`${name}: ending every process this file started\n`);
    killAll();
    process.exit(128 + number);
  });
}

export interface Started {
  pid: number;
  child: ResultPromise;
  /** Ends the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<void>;
}

/**
 * Starts a process in a session of its own: a WM that signals "its" process group
 * (i3 does, for its nagbar) must never reach the test runner.
 */
export function start(file: string, args: readonly string[], options: Options = {}): Started {
  const child = execa(file, args, { reject: false, stdin: 'ignore', detached: true, ...options }) as ResultPromise;
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  const pid = child.pid;
  live.add(pid);
  const exited = child.then(() => {
    live.delete(pid);
  }, () => {
    live.delete(pid);
  });
  return {
    pid,
    child,
    exited,
    async stop(graceMs = 3000) {
      if (!live.has(pid)) return exited;
      signal(pid, 'SIGTERM');
      const timer = setTimeout(() => signal(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Also track a process we did not spawn ourselves (a QEMU started by the daemon under test). */
export function track(pid: number): void {
  live.add(pid);
}

/** Resolves when `file` exists, watching its directory rather than polling. */
export function waitForFile(file: string, timeoutMs = 10_000, what = file): Promise<void> {
  return waitForPath(file, true, timeoutMs, `${what} did not appear within ${timeoutMs} ms`);
}

/** Resolves when `file` is gone, watching its directory rather than polling. */
export function waitForGone(file: string, timeoutMs = 10_000, what = file): Promise<void> {
  return waitForPath(file, false, timeoutMs, `${what} was still there after ${timeoutMs} ms`);
}

function waitForPath(file: string, present: boolean, timeoutMs: number, timeoutMessage: string): Promise<void> {
  const limit = bound(timeoutMs);
  return new Promise((resolve, reject) => {
    const watcher = fs.watch(path.dirname(file));
    const finish = (error?: Error) => {
      clearTimeout(timer);
      watcher.close();
      error ? reject(error) : resolve();
    };
    const timer = setTimeout(() => finish(new Error(`${timeoutMessage} (${limit} ms with the load factor)`)), limit);
    watcher.on('change', () => fs.existsSync(file) === present && finish());
    watcher.on('error', (error) => finish(error));
    if (fs.existsSync(file) === present) finish();
  });
}

/** Resolves with the first file in `dir` whose name matches. */
export function waitForMatch(dir: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  timeoutMs = bound(timeoutMs);
  const find = () => fs.readdirSync(dir).find((name) => pattern.test(name));
  return new Promise((resolve, reject) => {
    const watcher = fs.watch(dir);
    const finish = (error?: Error, name?: string) => {
      clearTimeout(timer);
      watcher.close();
      error ? reject(error) : resolve(path.join(dir, name!));
    };
    const timer = setTimeout(() => finish(new Error(`no ${pattern} in ${dir} within ${timeoutMs} ms`)), timeoutMs);
    watcher.on('change', () => {
      const name = find();
      if (name) finish(undefined, name);
    });
    const name = find();
    if (name) finish(undefined, name);
  });
}

/** Resolves when `predicate(text)` holds for the file's content (re-read on every change). */
export function waitForContent(file: string, predicate: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  timeoutMs = bound(timeoutMs);
  const read = () => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  return new Promise((resolve, reject) => {
    const watcher = fs.watch(path.dirname(file));
    const check = () => {
      const text = read();
      if (predicate(text)) finish(undefined, text);
    };
    const finish = (error?: Error, text?: string) => {
      clearTimeout(timer);
      watcher.close();
      error ? reject(error) : resolve(text!);
    };
    const timer = setTimeout(
      () => finish(new Error(`${file} did not reach the expected content within ${timeoutMs} ms; last: ${read().slice(-300)}`)),
      timeoutMs,
    );
    watcher.on('change', check);
    check();
  });
}

/**
 * A server creates its socket file (bind) a moment before it accepts (listen):
 * resolves once a connection is accepted, retrying only ECONNREFUSED.
 */
export async function waitUntilAccepting(socketPath: string, timeoutMs = 10_000): Promise<void> {
  const { createConnection } = await import('node:net');
  const deadline = Date.now() + bound(timeoutMs);
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const socket = createConnection({ path: socketPath });
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    });
    if (!error) return;
    if (error.code !== 'ECONNREFUSED' || Date.now() + delay > deadline) throw error;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
