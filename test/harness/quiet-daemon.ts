/**
 * The real daemon for the bench: like startDaemon(), but its stderr goes to a file
 * and no D-Bus client stays connected — nothing of the daemon's runs inside the
 * measuring process. Node flags are explicit, since `node bin/hiboss` skips the
 * script's shebang line (where bin/hiboss sets them for users).
 */
import fs from 'node:fs';
import path from 'node:path';
import { HIBOSS, sessionEnv, writeConfig } from './daemon.js';
import { shebangNodeFlags } from '../../cli/verbs/systemd-unit.js';
import type { RunningBus } from './dbus.js';
import { start, waitForContent, type Started } from './processes.js';
import type { Sandbox } from './sandbox.js';
import type { RunningWm } from './wm.js';

export interface QuietDaemon {
  process: Started;
  configPath: string;
  logFile: string;
  /** The node flags it runs with. */
  nodeFlags: string[];
  log(): string;
  stop(): Promise<void>;
}

/** The node flags on bin/hiboss's `#!/usr/bin/env -S node …` line. */
export function hibossNodeFlags(): string[] {
  return shebangNodeFlags(fs.readFileSync(HIBOSS, 'utf8').split('\n', 1)[0] ?? '');
}

export async function startQuietDaemon(
  sandbox: Sandbox,
  wm: RunningWm,
  bus: RunningBus,
  config: unknown,
  nodeFlags: string[] = hibossNodeFlags(),
): Promise<QuietDaemon> {
  const configPath = writeConfig(sandbox, config);
  const logFile = path.join(sandbox.root, 'daemon.log');
  // The file itself is the daemon's stdout and stderr: execa's `{ file }` would pipe its
  // lines through this process, the one that measures.
  // (A stream with an fd is handed to the child as that fd.)
  const logStream = fs.createWriteStream(logFile, { fd: fs.openSync(logFile, 'a', 0o600) });
  const proc = start(process.execPath, [...nodeFlags, HIBOSS, 'daemon', '--config', configPath], {
    env: sessionEnv(wm, bus),
    extendEnv: false,
    stdout: logStream,
    stderr: logStream,
  });
  logStream.close(); // the daemon has its own copy
  const log = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  await Promise.race([
    waitForContent(logFile, (text) => /connected to (sway|i3)/.test(text), 15_000),
    proc.exited.then(() => {
      throw new Error(`the daemon exited at start:\n${log()}`);
    }),
  ]);
  return { process: proc, configPath, logFile, nodeFlags, log, stop: () => proc.stop() };
}
