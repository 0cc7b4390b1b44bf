/**
 * Real window managers for tests: sway headless (in a user namespace, since it
 * refuses to run as root) and i3 under Xvfb.
 */
import fs from 'node:fs';
import path from 'node:path';
import { start, waitForFile, waitForMatch, waitUntilAccepting, type Started } from './processes.js';
import { bound } from './bounds.js';
import type { Sandbox } from './sandbox.js';

export interface RunningWm {
  kind: 'sway' | 'i3';
  socketPath: string;
  /** Environment for clients inside this WM's session (SWAYSOCK/I3SOCK, display). */
  env: NodeJS.ProcessEnv;
  process: Started;
  logFile: string;
  stop(): Promise<void>;
}

export interface WmOptions {
  /** Extra config lines (bindings, workspace names …). */
  config?: string[];
  /** i3: Xvfb's screen (default 1024x768x24). */
  xvfbScreen?: string;
  /** i3: Xvfb keeps its framebuffer in DIR/Xvfb_screen0 (XWD), for pixel checks (./pixels.ts). */
  fbdir?: string;
}

export async function startSway(sandbox: Sandbox, options: WmOptions = {}): Promise<RunningWm> {
  const configFile = path.join(sandbox.root, 'sway.conf');
  fs.writeFileSync(
    configFile,
    ['output HEADLESS-1 resolution 1280x720', 'xwayland disable', ...(options.config ?? [])].join('\n') + '\n',
  );
  const logFile = path.join(sandbox.root, 'sway.log');
  const env = {
    ...sandbox.env,
    WLR_BACKENDS: 'headless',
    WLR_RENDERER: 'pixman',
    WLR_LIBINPUT_NO_DEVICES: '1',
  };
  const proc = start('unshare', ['-U', '--map-user=1000', '--map-group=1000', 'sway', '-c', configFile], {
    env,
    extendEnv: false,
    stdout: { file: logFile, append: true },
    stderr: { file: logFile, append: true },
  });
  let socketPath: string;
  try {
    socketPath = await Promise.race([
      // unshare execs sway, so the socket carries this pid (older, stale sockets may lie around).
      waitForMatch(sandbox.runtimeDir, new RegExp(`^sway-ipc\\.\\d+\\.${proc.pid}\\.sock$`), 15_000),
      proc.exited.then(() => {
        throw new Error(`sway exited at start: ${fs.readFileSync(logFile, 'utf8').slice(-500)}`);
      }),
    ]);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  await waitUntilAccepting(socketPath);
  const waylandDisplay = await waitForMatch(sandbox.runtimeDir, /^wayland-\d+$/, 10_000);
  return {
    kind: 'sway',
    socketPath,
    env: { ...sandbox.env, SWAYSOCK: socketPath, WAYLAND_DISPLAY: path.basename(waylandDisplay) },
    process: proc,
    logFile,
    stop: () => proc.stop(),
  };
}

export async function startI3(sandbox: Sandbox, options: WmOptions = {}): Promise<RunningWm> {
  const screen = ['-screen', '0', options.xvfbScreen ?? '1024x768x24', ...(options.fbdir ? ['-fbdir', options.fbdir] : [])];
  const xvfb = start('Xvfb', ['-displayfd', '1', ...screen, '-nolisten', 'tcp'], {
    env: sandbox.env,
    extendEnv: false,
    stdout: 'pipe',
    stderr: 'ignore',
  });
  // -displayfd writes the display number once the server accepts clients.
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('Xvfb did not report a display')), bound(10_000));
    xvfb.child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`:${m[1]}`);
      }
    });
    void xvfb.exited.then(() => reject(new Error('Xvfb exited at start')));
  });
  const socketPath = path.join(sandbox.runtimeDir, 'i3-ipc.sock');
  const configFile = path.join(sandbox.root, 'i3.conf');
  fs.writeFileSync(
    configFile,
    ['# i3 config file (v4)', 'font pango:monospace 8', `ipc-socket ${socketPath}`, 'bar {', '  i3bar_command /bin/true', '}', ...(options.config ?? [])].join('\n') + '\n',
  );
  const logFile = path.join(sandbox.root, 'i3.log');
  const env = { ...sandbox.env, DISPLAY: display };
  const i3 = start('i3', ['-c', configFile], {
    env,
    extendEnv: false,
    stdout: { file: logFile, append: true },
    stderr: { file: logFile, append: true },
  });
  try {
    await waitForFile(socketPath, 15_000, 'the i3 IPC socket');
    await waitUntilAccepting(socketPath);
  } catch (error) {
    await i3.stop();
    await xvfb.stop();
    throw error;
  }
  return {
    kind: 'i3',
    socketPath,
    env: { ...env, I3SOCK: socketPath },
    process: i3,
    logFile,
    stop: async () => {
      await i3.stop();
      await xvfb.stop();
    },
  };
}

export function startWm(kind: 'sway' | 'i3', sandbox: Sandbox, options: WmOptions = {}): Promise<RunningWm> {
  return kind === 'sway' ? startSway(sandbox, options) : startI3(sandbox, options);
}
