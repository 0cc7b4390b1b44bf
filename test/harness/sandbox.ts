/**
 * A private desktop for a test: its own XDG dirs and runtime dir (0700) and an
 * environment without any inherited session (SWAYSOCK, I3SOCK, D-Bus, display).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processesWithArg } from './inspect.js';
import { atTermination } from './processes.js';

export interface Sandbox {
  root: string;
  runtimeDir: string;
  configHome: string;
  stateHome: string;
  dataHome: string;
  env: NodeJS.ProcessEnv;
  remove(): void;
}

const INHERITED_SESSION = [
  'SWAYSOCK',
  'I3SOCK',
  'DBUS_SESSION_BUS_ADDRESS',
  'WAYLAND_DISPLAY',
  'DISPLAY',
  'XDG_RUNTIME_DIR',
  'XDG_CONFIG_HOME',
  'XDG_STATE_HOME',
  'XDG_DATA_HOME',
  'NOTIFY_SOCKET',
];

export function makeSandbox(label = 'hiboss'): Sandbox {
  // Short root: unix socket paths are limited to 107 bytes.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `${label.slice(0, 8)}-`));
  const dirs = {
    runtimeDir: path.join(root, 'run'),
    configHome: path.join(root, 'config'),
    stateHome: path.join(root, 'state'),
    dataHome: path.join(root, 'data'),
  };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_SESSION) delete env[name];
  Object.assign(env, {
    XDG_RUNTIME_DIR: dirs.runtimeDir,
    XDG_CONFIG_HOME: dirs.configHome,
    XDG_STATE_HOME: dirs.stateHome,
    XDG_DATA_HOME: dirs.dataHome,
    NO_COLOR: '1',
  });
  // Should the file end before the test removes it (the runner's timeout sends SIGTERM):
  // what runs under the sandbox — the daemon's QEMUs, in sessions of their own — ends, and the sandbox goes.
  const forget = atTermination(() => {
    for (const pid of processesWithArg(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    ...dirs,
    env,
    remove: () => {
      forget();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
