/** A private D-Bus session bus, ended by its pid. */
import { execa } from 'execa';

export interface RunningBus {
  address: string;
  pid: number;
  stop(): void;
}

export async function startSessionBus(env: NodeJS.ProcessEnv): Promise<RunningBus> {
  const { stdout } = await execa('dbus-daemon', ['--session', '--fork', '--print-address=1', '--print-pid=1'], {
    env,
    extendEnv: false,
  });
  const [address, pidText] = stdout.split('\n');
  const pid = Number(pidText);
  if (!address || !Number.isInteger(pid)) throw new Error(`unexpected dbus-daemon output: ${stdout}`);
  // Forked: not our child, so kill it by pid (and at exit too).
  const { track } = await import('./processes.js');
  track(pid);
  return {
    address,
    pid,
    stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    },
  };
}
