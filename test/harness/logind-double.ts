/**
 * A private system bus (dbus-daemon with a system-bus style config: its own
 * socket, allow-all policy, no user switch) with a stand-in for logind on it
 * (./logind-double.py). The test drives logind's signals and reads what the
 * double saw: inhibitors taken and released, how long a sleep waited.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './daemon.js';
import { start, track, type Started } from './processes.js';
import { bound } from './bounds.js';

export interface LogindDouble {
  /** For the daemon's environment: DBUS_SYSTEM_BUS_ADDRESS. */
  address: string;
  /** Every line the double printed so far. */
  lines(): string[];
  /** Resolves with the first line from index `from` on that matches. */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  send(command: 'sleep' | 'wake' | 'lock' | 'unlock' | 'hint 1' | 'hint 0'): void;
  stop(): Promise<void>;
}

function systemBusConfig(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="signal"/>
  </policy>
</busconfig>
`;
}

export async function startLogindDouble(dir: string, env: NodeJS.ProcessEnv): Promise<LogindDouble> {
  const socket = path.join(dir, 'system_bus_socket');
  const config = path.join(dir, 'system-bus.conf');
  fs.writeFileSync(config, systemBusConfig(socket));
  const { stdout } = await execa('dbus-daemon', [`--config-file=${config}`, '--fork', '--print-address=1', '--print-pid=1'], { env, extendEnv: false });
  const [address, pidText] = stdout.split('\n');
  const busPid = Number(pidText);
  if (!address || !Number.isInteger(busPid)) throw new Error(`unexpected dbus-daemon output: ${stdout}`);
  track(busPid); // forked: not our child
  // Debian's python3 (with python3-dbus and python3-gi), not whatever python3 is first on PATH.
  const double: Started = start('/usr/bin/python3', [path.join(REPO, 'test', 'harness', 'logind-double.py')], {
    env: { ...env, DBUS_SYSTEM_BUS_ADDRESS: address },
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<() => void>();
  let partial = '';
  double.child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const wake of [...waiters]) wake();
  });
  double.child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const waitFor = (pattern: RegExp, from = 0, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      timeoutMs = bound(timeoutMs);
      const look = () => {
        const line = lines.slice(from).find((l) => pattern.test(l));
        if (line === undefined) return false;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(line);
        return true;
      };
      const check = () => void look();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`the logind double never printed ${pattern}; it printed: ${lines.join(' | ')}; stderr: ${stderr}`));
      }, timeoutMs);
      if (!look()) waiters.add(check);
    });
  await Promise.race([
    waitFor(/^ready$/),
    double.exited.then(() => {
      throw new Error(`the logind double exited at start: ${stderr}`);
    }),
  ]);
  return {
    address,
    lines: () => [...lines],
    waitFor,
    send(command) {
      double.child.stdin!.write(`${command}\n`);
    },
    async stop() {
      await double.stop();
      try {
        process.kill(busPid, 'SIGTERM');
      } catch {
        /* gone */
      }
    },
  };
}
