/**
 * `hiboss join --desktop URI`, what a clicked nix:// link runs (the desktop
 * file says Terminal=false: GLib's launcher and xdg-open then need no terminal
 * of their own). hiboss finds a terminal itself — $TERMINAL,
 * xdg-terminal-exec, Debian's x-terminal-emulator, then the common ones — and
 * opens the review in it (`hiboss join --wait URI`, argv only). With none, or
 * for a link it refuses, a desktop notification says why: a click never ends
 * silently.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Notifier } from '../daemon/notify.js';
import { parseJoinUri, quoteUntrusted } from '../panel/join.js';

/** How each known terminal takes a command to run: the argv before the command. */
export const TERMINALS: ReadonlyArray<{ name: string; prefix: readonly string[] }> = [
  { name: 'xdg-terminal-exec', prefix: [] },
  { name: 'x-terminal-emulator', prefix: ['-e'] }, // Debian's alternative: -e COMMAND ARGS… is its contract
  { name: 'foot', prefix: [] },
  { name: 'alacritty', prefix: ['-e'] },
  { name: 'kitty', prefix: [] },
  { name: 'wezterm', prefix: ['start', '--'] },
  { name: 'gnome-terminal', prefix: ['--'] },
  { name: 'konsole', prefix: ['-e'] },
  { name: 'xfce4-terminal', prefix: ['-x'] },
  { name: 'xterm', prefix: ['-e'] },
];

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  const dirs = name.includes('/') ? [''] : (env.PATH ?? '').split(':').filter(Boolean);
  for (const dir of dirs) {
    const full = dir ? path.join(dir, name) : name;
    try {
      fs.accessSync(full, fs.constants.X_OK);
      if (fs.statSync(full).isFile()) return full;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** The terminal to use and its argv prefix; null when there is none. */
export function findTerminal(env: NodeJS.ProcessEnv = process.env): { program: string; prefix: readonly string[] } | null {
  // $TERMINAL names a program (no arguments: it is not parsed as a shell line).
  const chosen = env.TERMINAL && /^[A-Za-z0-9._/+-]{1,256}$/.test(env.TERMINAL) ? onPath(env.TERMINAL, env) : null;
  if (chosen) {
    const known = TERMINALS.find((t) => t.name === path.basename(chosen));
    return { program: chosen, prefix: known?.prefix ?? ['-e'] };
  }
  for (const terminal of TERMINALS) {
    const program = onPath(terminal.name, env);
    if (program) return { program, prefix: terminal.prefix };
  }
  return null;
}

async function tell(summary: string, body: string): Promise<void> {
  const notifier = new Notifier({ logger: (line) => console.error(`hiboss join: ${line}`), timeoutMs: 5000 });
  try {
    await notifier.notify(summary, body, 'normal');
  } finally {
    notifier.close();
  }
  console.error(`hiboss join: ${summary}: ${body}`);
}

/** Hands the review to a terminal; resolves with the exit code of this (background) part. */
export async function handOff(argv: readonly string[], positional: readonly string[]): Promise<number> {
  const uri = positional[0];
  if (positional.length !== 1 || uri === undefined) {
    await tell('hiboss join: no link', 'The desktop started hiboss join without one nix:// link.');
    return 2;
  }
  const parsed = parseJoinUri(uri);
  if (!parsed.ok && parsed.reason === 'refused') {
    await tell('hiboss join: link refused', `${quoteUntrusted(uri)}\n${parsed.message}`);
    return 2;
  }
  const terminal = findTerminal();
  if (!terminal) {
    await tell(
      'hiboss join: no terminal found',
      `hiboss shows the review of ${quoteUntrusted(uri)} in a terminal, and found none (tried $TERMINAL, ${TERMINALS.map((t) => t.name).join(', ')}). ` +
        `Install one, or run in a terminal: hiboss join ${uri}`,
    );
    return 1;
  }
  const hiboss = process.argv[1]!;
  const rest = argv.filter((arg) => arg !== '--desktop');
  const child = spawn(terminal.program, [...terminal.prefix, hiboss, 'join', '--wait', ...rest], { detached: true, stdio: 'ignore' });
  const started = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', resolve);
  });
  if (started) {
    await tell('hiboss join: the terminal did not start', `${terminal.program}: ${started.message}. Run in a terminal: hiboss join ${uri}`);
    return 1;
  }
  child.unref();
  return 0;
}
