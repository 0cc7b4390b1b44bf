/**
 * Progress and the fallback stream of a restore or save: a watchdog that gives up on a
 * transfer making no progress, and the image written into QEMU's incoming socket when
 * the image's descriptor could not reach QEMU (`cat IMAGE`, an argv, or Node itself).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { HibernateError } from './image-files.js';

export type StallGuard = { signal: AbortSignal; touch: () => void; stop: () => void };

/** A watchdog: aborts when `touch()` has not been called for `ms`. */
export function stallGuard(ms: number, what: string): StallGuard {
  const controller = new AbortController();
  let timer: NodeJS.Timeout;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new HibernateError(`${what} made no progress for ${Math.round(ms / 1000)} s`)), ms);
  };
  arm();
  return { signal: controller.signal, touch: arm, stop: () => clearTimeout(timer) };
}

/**
 * Connects to QEMU's incoming socket (it listens once `migrate-incoming` returns)
 * and writes the image into it: by `cat IMAGE` with the socket as its stdout (an
 * argv, no shell; the kernel copies, measured ~50 ms faster than Node for 100
 * MiB), or by Node itself where there is no `cat`.
 */
export async function streamInto(image: string, socketPath: string, guard: StallGuard): Promise<void> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  try {
    if (await catInto(image, socket, guard)) return;
  } catch (error) {
    socket.destroy();
    throw error;
  }
  const fd = fs.openSync(image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      if (guard.signal.aborted) throw guard.signal.reason;
      const read = await new Promise<number>((resolve, reject) => fs.read(fd, buffer, 0, buffer.length, null, (error, n) => (error ? reject(error) : resolve(n))));
      if (read === 0) break;
      guard.touch();
      const chunk = Buffer.from(buffer.subarray(0, read));
      if (!socket.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onError = (error: Error) => done(new HibernateError(`QEMU stopped reading the image: ${error.message}`));
          const onClose = () => done(new HibernateError('QEMU closed the image stream'));
          const onDrain = () => done();
          const done = (error?: Error) => {
            socket.off('error', onError);
            socket.off('close', onClose);
            socket.off('drain', onDrain);
            if (error) reject(error);
            else resolve();
          };
          socket.once('error', onError);
          socket.once('close', onClose);
          socket.once('drain', onDrain);
        });
      }
    }
    await new Promise<void>((resolve) => socket.end(resolve));
  } finally {
    fs.closeSync(fd);
    socket.destroy();
  }
}

function readProcIo(pid: number | undefined): string {
  try {
    return pid === undefined ? '' : fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return '';
  }
}

/** `cat IMAGE` into the socket; false when there is no cat to run (the caller streams it itself). */
async function catInto(image: string, socket: net.Socket, guard: StallGuard): Promise<boolean> {
  const cat = spawn('cat', ['--', image], { stdio: ['ignore', socket, 'pipe'] });
  let stderr = '';
  cat.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
  // Progress, for the stall guard: what cat has read so far (/proc/PID/io).
  let lastRead = -1;
  const progress = setInterval(() => {
    const read = Number(/rchar: (\d+)/.exec(readProcIo(cat.pid))?.[1] ?? -1);
    if (read > lastRead) guard.touch();
    lastRead = read;
  }, 1000);
  const outcome = await new Promise<{ code: number | null; missing: boolean }>((resolve) => {
    const onAbort = () => cat.kill('SIGKILL');
    guard.signal.addEventListener('abort', onAbort, { once: true });
    cat.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, missing: error.code === 'ENOENT' }));
    cat.once('exit', (code) => {
      guard.signal.removeEventListener('abort', onAbort);
      resolve({ code, missing: false });
    });
  });
  clearInterval(progress);
  if (outcome.missing) return false;
  socket.destroy(); // our copy of the stream's end: QEMU has all of it
  if (guard.signal.aborted) throw guard.signal.reason;
  if (outcome.code !== 0) throw new HibernateError(`reading the image failed (cat: ${stderr.trim() || `exit code ${outcome.code}`})`);
  return true;
}

