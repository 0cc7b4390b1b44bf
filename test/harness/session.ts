/**
 * A whole private desktop for an end-to-end test: sandbox, a real WM, a private
 * session bus, a WM client for the test to drive, and the daemons it starts —
 * all ended together, QEMUs included, by `end()`.
 */
import { WmClient } from '../../wm-ipc/client.js';
import { startDaemon, type DaemonOptions, type RunningDaemon } from './daemon.js';
import { startSessionBus, type RunningBus } from './dbus.js';
import { pidsWithArg } from './inspect.js';
import { makeSandbox, type Sandbox } from './sandbox.js';
import { startWm, type RunningWm, type WmOptions } from './wm.js';

export interface DesktopSession {
  sandbox: Sandbox;
  wm: RunningWm;
  bus: RunningBus;
  /** The test's own connection to the WM (to switch workspaces as a user would). */
  wmc: WmClient;
  /** Starts the real daemon (config written first when given); ended by end(). */
  startDaemon(config?: unknown, options?: DaemonOptions): Promise<RunningDaemon>;
  end(): Promise<void>;
}

export async function startDesktop(kind: 'sway' | 'i3', label: string, options: WmOptions = {}): Promise<DesktopSession> {
  const sandbox = makeSandbox(label);
  const daemons: RunningDaemon[] = [];
  let wm: RunningWm | undefined;
  let bus: RunningBus | undefined;
  let wmc: WmClient | undefined;
  const end = async () => {
    wmc?.close();
    for (const daemon of daemons) await daemon.stop();
    // The daemon's QEMUs run in sessions of their own: find them by the sandbox path.
    for (const pid of pidsWithArg(sandbox.root)) process.kill(pid, 'SIGKILL');
    await wm?.stop();
    bus?.stop();
    sandbox.remove();
  };
  try {
    wm = await startWm(kind, sandbox, options);
    bus = await startSessionBus(sandbox.env);
    wmc = await WmClient.connect({ socketPath: wm.socketPath });
  } catch (error) {
    await end();
    throw error;
  }
  const session: DesktopSession = {
    sandbox,
    wm,
    bus,
    wmc,
    async startDaemon(config?: unknown, options?: DaemonOptions) {
      const daemon = await startDaemon(sandbox, session.wm, session.bus, config, options);
      daemons.push(daemon);
      return daemon;
    },
    end,
  };
  return session;
}
