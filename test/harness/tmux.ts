/**
 * A program in a real terminal: tmux on a private socket, keys sent with
 * send-keys, the screen read with capture-pane. tmux has no "screen changed"
 * event, so the screen is read in a short, bounded loop (SCREEN_POLL_MS, and
 * every wait has its own deadline).
 */
import path from 'node:path';
import { start, track } from './processes.js';
import type { Sandbox } from './sandbox.js';
import { bound } from './bounds.js';

const SCREEN_POLL_MS = 100;
const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Tmux {
  socket: string;
  serverPid: number;
  capture(): Promise<string>;
  keys(...keys: string[]): Promise<void>;
  /** Polls the pane until `pattern` shows (or the deadline passes: the error carries the last screen). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(): void;
}

async function tmuxRun(socket: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const proc = start('tmux', ['-S', socket, ...args], { env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' });
  const result = await proc.child;
  if (result.exitCode !== 0) throw new Error(`tmux ${args.join(' ')}: ${String(result.stderr)}`);
  return String(result.stdout);
}

export async function startTmux(sandbox: Sandbox, env: NodeJS.ProcessEnv, command: string[], size = { columns: 120, rows: 32 }): Promise<Tmux> {
  const socket = path.join(sandbox.root, 'tmux.sock');
  const tmuxEnv: NodeJS.ProcessEnv = { ...env, NCURSES_NO_UTF8_ACS: '1' };
  delete tmuxEnv.TMUX; // never attach to the tmux the tests may run in
  // Several arguments after new-session: tmux execs them directly, no shell.
  await tmuxRun(socket, ['-f', '/dev/null', 'new-session', '-d', '-s', 'panel', '-x', String(size.columns), '-y', String(size.rows), ...command], tmuxEnv);
  const serverPid = Number((await tmuxRun(socket, ['display-message', '-p', '#{pid}'], tmuxEnv)).trim());
  if (!Number.isInteger(serverPid) || serverPid <= 0) throw new Error('tmux did not report its server pid');
  track(serverPid); // forked by tmux itself: ended by pid, at teardown and at exit
  const capture = () => tmuxRun(socket, ['capture-pane', '-p', '-t', 'panel'], tmuxEnv);
  return {
    socket,
    serverPid,
    capture,
    keys: async (...keys) => void (await tmuxRun(socket, ['send-keys', '-t', 'panel', ...keys], tmuxEnv)),
    async waitFor(pattern, timeoutMs = 15_000) {
      timeoutMs = bound(timeoutMs);
      const deadline = Date.now() + timeoutMs;
      let screen = '';
      while (Date.now() < deadline) {
        screen = await capture();
        if (pattern.test(screen)) return screen;
        await quiet(SCREEN_POLL_MS);
      }
      throw new Error(`the panel did not show ${pattern} within ${timeoutMs} ms; it shows:\n${screen}`);
    },
    kill() {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}

