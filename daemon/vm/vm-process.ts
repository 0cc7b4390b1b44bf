/**
 * One running QEMU, started by us or adopted from an earlier daemon: its pid,
 * its QMP connection, and what it does (paused, resumed, gone). QEMU is started
 * in a session of its own, so it outlives the daemon and a later daemon adopts
 * it through its pidfile and QMP socket.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { QmpClient } from '../../qmp/client.js';
import { QmpConnectError } from '../../qmp/errors.js';
import type { LaunchCommand, VmPaths } from '../launch/launcher.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';
import { DaemonError } from '../errors.js';

export type VmEnd = { kind: 'stopped' | 'failed'; reason: string };

type VmProcessEvents = {
  paused: [];
  resumed: [];
  /** QEMU is gone (exactly once). */
  exit: [VmEnd];
};

export class VmStartError extends DaemonError {}

const STDERR_TAIL_BYTES = 2000;

export function readTail(file: string, bytes = STDERR_TAIL_BYTES): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(bytes, size);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** The last lines QEMU wrote (our own "--- …" markers left out). */
function lastLines(text: string, count: number): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('--- '))
    .slice(-count)
    .join(' | ');
}

/** QEMU binds the socket a moment before it listens: a refused connection is retried until the deadline. */
async function connectWhenListening(socket: string, deadline: number): Promise<QmpClient> {
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      return await QmpClient.connect(socket);
    } catch (error) {
      const refused = error instanceof QmpConnectError && error.code === 'ECONNREFUSED';
      if (!refused || Date.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
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

/** Resolves once `file` exists, or rejects after `timeoutMs` or when `abort` fires. */
function waitForSocket(file: string, timeoutMs: number, exited: Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = fs.watch(path.dirname(file));
    const done = (error?: Error) => {
      clearTimeout(timer);
      watcher.close();
      error ? reject(error) : resolve();
    };
    const timer = setTimeout(() => done(new VmStartError(`the QMP socket did not appear within ${timeoutMs} ms`)), timeoutMs);
    watcher.on('change', () => fs.existsSync(file) && done());
    watcher.on('error', (error) => done(error));
    void exited.then(() => done(new VmStartError('QEMU exited during start-up')));
    if (fs.existsSync(file)) done();
  });
}

export class VmProcess extends EventEmitter<VmProcessEvents> {
  #ended = false;
  #sawShutdown = false;
  #shutdownReason = '';
  readonly startedAt: number;

  private constructor(readonly pid: number, readonly qmp: QmpClient, readonly paths: VmPaths, startedAt: number, readonly adopted: boolean) {
    super();
    this.startedAt = startedAt;
    qmp.onEvent('STOP', () => this.emit('paused'));
    qmp.onEvent('RESUME', () => this.emit('resumed'));
    qmp.onEvent('SHUTDOWN', (event) => {
      this.#sawShutdown = true;
      this.#shutdownReason = event.data.reason;
    });
  }

  /** Starts QEMU from a launch command; resolves once QMP answers. */
  static async launch(command: LaunchCommand, paths: VmPaths, startTimeoutMs = 30_000): Promise<VmProcess> {
    for (const stale of [paths.qmpSocket, paths.pidFile]) fs.rmSync(stale, { force: true });
    // QEMU's output may carry the guest's console: private like everything in the run dir.
    const log = fs.openSync(paths.logFile, 'a', 0o600);
    fs.fchmodSync(log, 0o600);
    fs.writeSync(log, `--- ${new Date().toISOString()} starting ${command.file} ${command.args.join(' ')}\n`);
    const child = spawn(command.file, command.args, {
      detached: true, // its own session: QEMU must not die with the daemon, nor get its signals
      stdio: ['ignore', log, log, ...(command.inheritFds ?? [])],
      env: { ...process.env, ...command.env },
    });
    fs.closeSync(log);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => {
        fs.appendFileSync(paths.logFile, `cannot run ${command.file}: ${error.message}\n`);
        resolve({ code: 127, signal: null });
      });
    });
    child.unref();
    const startedAt = Date.now();
    let qmp: QmpClient;
    try {
      await waitForSocket(paths.qmpSocket, startTimeoutMs, exited);
      qmp = await connectWhenListening(paths.qmpSocket, startedAt + startTimeoutMs);
    } catch (error) {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const { code, signal } = await Promise.race([exited, new Promise<{ code: null; signal: null }>((r) => setTimeout(() => r({ code: null, signal: null }), 2000))]);
      const tail = lastLines(readTail(paths.logFile), 3);
      const how = code !== null ? `exit code ${code}` : signal ? `signal ${signal}` : errorMessage(error);
      throw new VmStartError(`${errorMessage(error)} (${how})${tail ? `: ${tail}` : ''}`);
    }
    // The pidfile names QEMU itself, also when a run script started it.
    const pidFromFile = Number(readTail(paths.pidFile, 32).trim());
    const vm = new VmProcess(Number.isInteger(pidFromFile) && pidFromFile > 1 ? pidFromFile : child.pid!, qmp, paths, startedAt, false);
    void exited.then(({ code, signal }) => vm.#onExit(code, signal));
    return vm;
  }

  /**
   * Adopts a QEMU left by an earlier daemon: the pidfile's process must be alive
   * and its command line must name this VM's QMP socket (a recycled pid would not).
   */
  static async adopt(paths: VmPaths): Promise<VmProcess | undefined> {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(paths.pidFile, 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !pidAlive(pid)) return undefined;
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return undefined;
    }
    if (!cmdline.split('\0').some((arg) => arg.includes(paths.qmpSocket))) return undefined;
    const qmp = await QmpClient.connect(paths.qmpSocket);
    const startedAt = fs.statSync(paths.pidFile).mtimeMs;
    const vm = new VmProcess(pid, qmp, paths, startedAt, true);
    qmp.on('close', () => void vm.#watchAdoptedExit());
    return vm;
  }

  get ended(): boolean {
    return this.#ended;
  }

  async status(): Promise<'running' | 'paused'> {
    const info = await this.qmp.execute('query-status');
    return info.running ? 'running' : 'paused';
  }

  pause(timeoutMs?: number): Promise<unknown> {
    return this.qmp.execute('stop', undefined, { timeoutMs });
  }

  /** Writes `cont` before it returns (the caller marks that moment); resolves with the reply. */
  resume(timeoutMs?: number): Promise<unknown> {
    return this.qmp.execute('cont', undefined, { timeoutMs });
  }

  /** ACPI powerdown; a paused guest cannot see the button, so it runs first. */
  async powerdown(timeoutMs?: number): Promise<void> {
    const info = await this.qmp.execute('query-status', undefined, { timeoutMs });
    if (!info.running) await this.qmp.execute('cont', undefined, { timeoutMs });
    await this.qmp.execute('system_powerdown', undefined, { timeoutMs });
  }

  /** `quit`, and SIGKILL if QEMU does not go within `graceMs`. */
  async quit(graceMs = 5000): Promise<void> {
    try {
      await this.qmp.execute('quit', undefined, { timeoutMs: graceMs });
    } catch {
      /* the reply may be lost as it exits */
    }
    if (this.#ended) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        try {
          process.kill(this.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        resolve();
      }, graceMs);
      this.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Drops our connection, leaving QEMU running (daemon shutdown). */
  detach(): void {
    this.#ended = true;
    this.qmp.close();
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#ended) return;
    this.#ended = true;
    // The exit status can arrive before the last QMP events (SHUTDOWN says why it
    // ended): read the socket to its end first, a moment at most.
    let reported = false;
    const report = () => {
      if (reported) return;
      reported = true;
      clearTimeout(timer);
      this.qmp.close();
      for (const file of [this.paths.qmpSocket, this.paths.pidFile]) fs.rmSync(file, { force: true });
      if (code === 0) {
        const why = this.#sawShutdown ? shutdownWords(this.#shutdownReason) : 'QEMU exited';
        // A panic ends QEMU cleanly (pvpanic's default action), but it is a failure, not the member's shutdown.
        this.emit('exit', { kind: this.#shutdownReason === 'guest-panic' ? 'failed' : 'stopped', reason: why });
        return;
      }
      const how = signal ? `QEMU killed by ${signal}` : `QEMU exited with code ${code}`;
      const tail = lastLines(readTail(this.paths.logFile), 2);
      this.emit('exit', { kind: 'failed', reason: tail ? `${how}: ${tail}` : how });
    };
    const timer = setTimeout(report, 1000);
    if (this.qmp.closed) report();
    else this.qmp.once('close', report);
  }

  /** Not our child, so no exit status: QMP closed, then the pid goes. */
  async #watchAdoptedExit(): Promise<void> {
    if (this.#ended) return;
    for (let i = 0; i < 50 && pidAlive(this.pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (this.#ended) return;
    this.#ended = true;
    for (const file of [this.paths.qmpSocket, this.paths.pidFile]) fs.rmSync(file, { force: true });
    if (this.#sawShutdown) this.emit('exit', { kind: this.#shutdownReason === 'guest-panic' ? 'failed' : 'stopped', reason: shutdownWords(this.#shutdownReason) });
    else this.emit('exit', { kind: 'failed', reason: 'QEMU (adopted) went away without a shutdown' });
  }
}

function shutdownWords(reason: string): string {
  switch (reason) {
    case 'guest-shutdown':
      return 'the guest shut down';
    case 'host-qmp-quit':
      return 'quit';
    case 'host-signal':
      return 'QEMU got a signal and shut down';
    case 'guest-panic':
      return 'the guest panicked';
    default:
      return `shut down (${reason || 'unknown'})`;
  }
}
