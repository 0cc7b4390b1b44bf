/**
 * `hiboss bar`: a status bar module fed by the daemon's D-Bus signals. It
 * streams (waybar continuous mode, i3bar status_command, i3blocks persist)
 * rather than being re-run on an interval or a signal: Node has no SIGRTMIN, and
 * a stream costs nothing while nothing happens.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonClient, DaemonUnavailableError } from '../../api/client.js';
import { Backoff, sleep } from '../../transport/backoff.js';
import { parseArgs, UsageError, type Verb } from '../args.js';
import { Bar } from '../../bar-module/bar.js';
import { LineSplitter } from '../../bar-module/clicks.js';
import { FORMATS, renderI3blocksOnce, renderUpdate, type Format } from '../../bar-module/render.js';
import { errorMessage } from '../../shared/error-message.js';

const TERMINALS = ['foot', 'x-terminal-emulator'];

function log(line: string): void {
  try {
    process.stderr.write(`hiboss bar: ${line}\n`);
  } catch {
    /* stderr gone too: nothing to tell */
  }
}

/** The first of `names` that is an executable on PATH (or an absolute path). */
export function findProgram(names: readonly string[], envPath = process.env.PATH ?? ''): string | undefined {
  for (const name of names) {
    const candidates = name.includes('/') ? [name] : envPath.split(':').filter(Boolean).map((dir) => path.join(dir, name));
    for (const file of candidates) {
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return file;
      } catch {
        /* next */
      }
    }
  }
  return undefined;
}

/** Opens `hiboss panel` in a terminal, detached: the bar never waits for it. */
function panelOpener(terminal: string | undefined): () => void {
  return () => {
    const program = findProgram(terminal ? [terminal] : TERMINALS);
    if (!program) {
      log(`no terminal to open the panel in (tried ${terminal ?? TERMINALS.join(', ')}; use --terminal)`);
      return;
    }
    // This same hiboss, by absolute path: the terminal's PATH may not have it.
    const hiboss = process.argv[1] ? path.resolve(process.argv[1]) : 'hiboss';
    const child = spawn(program, ['-e', process.execPath, hiboss, 'panel'], { detached: true, stdio: 'ignore' });
    child.on('error', (error) => log(`cannot start ${program}: ${error.message}`));
    child.unref();
  };
}

/** Connects, waiting out a missing session bus (the daemon itself being absent is not an error). */
async function connect(onDown: (message: string) => void): Promise<DaemonClient> {
  const backoff = new Backoff(1000, 60_000);
  let reported = false;
  for (;;) {
    try {
      return await DaemonClient.connect();
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      if (!reported) {
        onDown(error.message);
        reported = true;
      }
      // Only while there is no bus at all: once connected, only signals wake us.
      await sleep(backoff.next());
    }
  }
}

export const barVerb: Verb = {
  usage: `usage: hiboss bar [--format waybar|i3bar|i3blocks|i3blocks-json] [--once] [--terminal PROGRAM]

Streams the focused workspace's VM and its state to a status bar, one update per
change, from the daemon's D-Bus signals (no polling).

  --format waybar         (default) JSON lines for a waybar custom module with
                          "return-type": "json" and no "interval"
  --format i3bar          a complete i3bar status_command (header, then one array
                          per update); reads click events on stdin:
                          1 toggle, 3 panel, wheel up/down next/prev
  --format i3blocks       one line of text per update, for interval=persist
  --format i3blocks-json  one JSON object per update, for interval=persist and
                          format=json (colour included)
  --once                  print one update and exit (i3blocks with an interval:
                          full text, short text, colour lines)
  --terminal PROGRAM      terminal for the panel on right click (default: foot,
                          then x-terminal-emulator); run as PROGRAM -e hiboss panel

While the daemon is not running the module shows a "down" state and picks the
daemon up again when it starts.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['once'], valued: ['format', 'terminal'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const formatFlag = (flags.get('format') as string | undefined) ?? 'waybar';
    if (!(FORMATS as readonly string[]).includes(formatFlag)) throw new UsageError(`unknown format "${formatFlag}" (one of ${FORMATS.join(', ')})`);
    const format = formatFlag as Format;
    const terminal = flags.get('terminal') as string | undefined;

    // waybar reloads by closing our stdout: leave quietly with 0, or it logs a crash and respawns us in a loop.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') log(`stdout: ${error.message}`);
      process.exit(error.code === 'EPIPE' ? 0 : 1);
    });
    const write = (text: string) => {
      process.stdout.write(text);
    };

    if (flags.has('once')) return runOnce(format, write);

    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => process.exit(0));

    const bar = new Bar({ format, write, log, openPanel: panelOpener(terminal) });
    const client = await connect((message) => {
      // No session bus yet: say so on the bar at once, with the reason on stderr.
      log(message);
      bar.showDown();
    });
    bar.start(client);

    if (format === 'i3bar' || format === 'i3blocks' || format === 'i3blocks-json') {
      const splitter = new LineSplitter((line) => void bar.click(line));
      process.stdin.setEncoding('utf8');
      process.stdin.on('data', (chunk: string) => splitter.push(chunk));
      process.stdin.on('end', () => splitter.end());
      process.stdin.on('error', () => {});
    }
    // Runs until stdout closes or a signal ends us.
    return new Promise<number>(() => {});
  },
};

async function runOnce(format: Format, write: (text: string) => void): Promise<number> {
  let client: DaemonClient | undefined;
  try {
    client = await DaemonClient.connect({ callTimeoutMs: 3000 });
  } catch (error) {
    if (!(error instanceof DaemonUnavailableError)) throw error;
  }
  let status = null;
  if (client?.available) {
    try {
      status = await client.status();
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) log(`cannot read the daemon's status: ${errorMessage(error)}`);
    }
  }
  client?.close();
  const ctx = { now: Date.now() };
  write(`${format === 'i3blocks' ? renderI3blocksOnce(status, ctx) : renderUpdate(format, status, ctx)}\n`);
  return 0;
}
