/**
 * The real hiboss daemon for end-to-end tests: `bin/hiboss daemon` inside a
 * sandbox with a real WM and a private session bus, and a D-Bus client to it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../../api/client.js';
import { shebangNodeFlags } from '../../cli/verbs/systemd-unit.js';
import { start, type Started } from './processes.js';
import { bound } from './bounds.js';
import type { RunningBus } from './dbus.js';
import type { Sandbox } from './sandbox.js';
import type { RunningWm } from './wm.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HIBOSS = path.join(REPO, 'bin', 'hiboss');

export interface RunningDaemon {
  process: Started;
  client: DaemonClient;
  configPath: string;
  env: NodeJS.ProcessEnv;
  /** Everything the daemon logged so far. */
  log(): string;
  /** Resolves when the log has a line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export function writeConfig(sandbox: Sandbox, config: unknown): string {
  const file = path.join(sandbox.configHome, 'hiboss', 'config.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function sessionEnv(wm: RunningWm, bus: RunningBus): NodeJS.ProcessEnv {
  return { ...wm.env, DBUS_SESSION_BUS_ADDRESS: bus.address };
}

export interface DaemonOptions {
  /** Added to the daemon's environment, so to its QEMUs' (GDK_BACKEND for a gtk display …). */
  env?: NodeJS.ProcessEnv;
}

export async function startDaemon(
  sandbox: Sandbox,
  wm: RunningWm,
  bus: RunningBus,
  config?: unknown,
  options: DaemonOptions = {},
): Promise<RunningDaemon> {
  const configPath = config === undefined ? path.join(sandbox.configHome, 'hiboss', 'config.json') : writeConfig(sandbox, config);
  const env = { ...sessionEnv(wm, bus), ...options.env };
  let log = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  // As bin/hiboss's shebang runs it (the young generation capped): tests see what users run.
  const nodeFlags = shebangNodeFlags(fs.readFileSync(HIBOSS, 'utf8').split('\n', 1)[0]!);
  const proc = start(process.execPath, [...nodeFlags, HIBOSS, 'daemon', '--config', configPath], {
    env,
    extendEnv: false,
    stdout: 'pipe',
    stderr: 'pipe',
  });
  proc.child.stderr!.on('data', (chunk: Buffer) => {
    log += chunk.toString();
    if (process.env.HIBOSS_TEST_DEBUG) process.stderr.write(chunk);
    for (const waiter of [...waiters]) {
      const line = log.split('\n').find((l) => waiter.pattern.test(l));
      if (line) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const waitForLog = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      timeoutMs = bound(timeoutMs);
      const line = log.split('\n').find((l) => pattern.test(l));
      if (line) return resolve(line);
      const timer = setTimeout(() => reject(new Error(`daemon never logged ${pattern}; log:\n${log.slice(-2000)}`)), timeoutMs);
      waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  await Promise.race([
    waitForLog(/connected to (sway|i3)/),
    proc.exited.then(() => {
      throw new Error(`the daemon exited at start:\n${log}`);
    }),
  ]);
  const client = withLoadBounds(await DaemonClient.connect({ busAddress: bus.address, requireDaemon: true, callTimeoutMs: bound(10_000) }));
  return {
    process: proc,
    client,
    configPath,
    env,
    log: () => log,
    waitForLog,
    async stop() {
      client.close();
      await proc.stop();
    },
  };
}

/**
 * The client's state waits with their give-up points stretched by the load factor
 * (bounds.ts), so every test's `waitForState(…, 30_000)` holds on a busy machine.
 */
function withLoadBounds(client: DaemonClient): DaemonClient {
  const waitForState = client.waitForState.bind(client);
  const untilState = client.untilState.bind(client);
  client.waitForState = (name, predicate, timeoutMs) => waitForState(name, predicate, bound(timeoutMs));
  client.untilState = (name, predicate, timeoutMs) => untilState(name, predicate, bound(timeoutMs));
  return client;
}

/**
 * Awaits `expected` — a wait already listening — after `act` is done: the event a
 * test waits for can never slip in between the act and the wait.
 *   await after(() => wmc.command('workspace 2'), daemon.client.waitForState('web', running));
 */
export async function after<T>(act: () => Promise<unknown>, expected: Promise<T>): Promise<T> {
  await act();
  return expected;
}
