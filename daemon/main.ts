/**
 * The daemon as a program: the session bus, the daemon's parts, the D-Bus
 * interface and the WM connection wired together. `hiboss daemon` (cli/) only
 * parses its arguments and calls runDaemon().
 */
import dbus from 'dbus-next';
import { createRequire } from 'node:module';
import { ensureRoots, isPrivateDir, RuntimeDirError, runtimeRoots, vmPaths } from '../config/paths.js';
import { Backoff, sleep } from '../transport/backoff.js';
import { WmClient } from '../wm-ipc/client.js';
import { WmIpcError } from '../wm-ipc/errors.js';
import { Daemon } from './daemon.js';
import { DaemonInterface, exportService } from './dbus-service.js';
import { stderrLogger } from './log.js';
import { SignalWire } from './signal-wire.js';
import { daemonInterfaceMembers, INTERFACE, OBJECT_PATH } from '../api/names.js';
import { Notifier } from './notify.js';
import { closeBus } from '../api/bus.js';
import { errorMessage } from '../shared/error-message.js';


const version: string = createRequire(import.meta.url)('../../package.json').version;

/** Runs until the WM session ends or a signal stops it; resolves to the exit code. */
export async function runDaemon({ configPath }: { configPath: string }): Promise<number> {
  // Everything the daemon and its QEMUs create (sockets, pidfiles, logs, disks) is the user's alone.
  process.umask(0o077);
  let roots;
  try {
    roots = runtimeRoots();
    ensureRoots(roots);
    vmPaths(roots, 'x'.repeat(32)); // the longest name must fit the socket path bound
  } catch (error) {
    if (error instanceof RuntimeDirError) {
      console.error(`hiboss daemon: ${error.message}`);
      return 1;
    }
    throw error;
  }
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
    console.error('hiboss daemon: no session bus (DBUS_SESSION_BUS_ADDRESS is unset); the daemon serves its API there');
    return 1;
  }

  const bus = dbus.sessionBus();
  const wire = new SignalWire(bus, OBJECT_PATH, INTERFACE, daemonInterfaceMembers().signals);
  const logger = stderrLogger((name) => {
    try {
      const paths = vmPaths(roots, name);
      // Never through a symlinked or foreign directory (it would take our lines elsewhere).
      return isPrivateDir(paths.runDir) ? paths.logFile : undefined;
    } catch {
      return undefined;
    }
  });
  const notifier = new Notifier({ logger: (message: string) => logger.info(message) });
  let iface: DaemonInterface | undefined;
  const daemon = new Daemon({
    configPath,
    roots,
    logger,
    // The switch path's signals (strings and booleans) go straight to the wire (signal-wire.ts); the rest, and any
    // signal it cannot write, through dbus-next's interface as before.
    signals: () =>
      iface && {
        stateChanged: (name, state, reason) => wire.send('StateChanged', [name, state, reason]) || iface!.StateChanged(name, state, reason),
        focusChanged: (workspace, vm) => wire.send('FocusChanged', [workspace, vm]) || iface!.FocusChanged(workspace, vm),
        configChanged: (accepted, problems) => iface!.ConfigChanged(accepted, problems),
        vmLog: (name, line) => wire.send('VmLog', [name, line]) || iface!.VmLog(name, line),
        updateEvent: (name, kind, message) => wire.send('UpdateEvent', [name, kind, message]) || iface!.UpdateEvent(name, kind, message),
        backupChanged: (name, kind, message) => wire.send('BackupChanged', [name, kind, message]) || iface!.BackupChanged(name, kind, message),
        microphoneChanged: (vm, pinned) => wire.send('MicrophoneChanged', [vm, pinned]) || iface!.MicrophoneChanged(vm, pinned),
      },
    notify: (summary, body, urgency) => void notifier.notify(summary, body, urgency),
  });
  iface = new DaemonInterface(daemon, version);
  // The bus name is taken only once status() tells the truth: clients call it as soon as the name appears.
  await daemon.init();
  try {
    await exportService(bus, iface);
  } catch (error) {
    console.error(`hiboss daemon: ${errorMessage(error)}`);
    daemon.shutdown();
    closeBus(bus);
    return 1;
  }

  const stop = () => {
    logger.info('stopping; VMs keep running and will be adopted by the next daemon');
    daemon.shutdown();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  const wm = await connectWm(logger.info);
  if (!wm) {
    daemon.shutdown();
    closeBus(bus);
    return 1;
  }
  logger.info(`hiboss ${version}: config ${configPath}, runtime ${roots.runRoot}`);
  try {
    await daemon.run(wm);
  } catch (error) {
    // The WM went away before we were attached: give the bus name back and fail, so a
    // service manager restarts us rather than keeping a daemon that follows nothing.
    logger.warn(`cannot follow the WM: ${errorMessage(error)}`);
    daemon.shutdown();
    return 1;
  } finally {
    notifier.close();
    closeBus(bus);
  }
  return 0;
}

/** A user service may start before the WM: wait for it (a few minutes at most). */
async function connectWm(log: (message: string) => void): Promise<WmClient | undefined> {
  const backoff = new Backoff(100, 5000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await WmClient.connect();
    } catch (error) {
      if (!(error instanceof WmIpcError)) throw error;
      if (attempt === 0) log(`waiting for sway or i3: ${error.message}`);
      if (attempt >= 60) {
        console.error(`hiboss daemon: no window manager: ${error.message}`);
        return undefined;
      }
      await sleep(backoff.next());
    }
  }
}
