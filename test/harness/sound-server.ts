/**
 * A real sound server for a test: Debian's PulseAudio (or PipeWire with its
 * pipewire-pulse, which serves the same protocol), run as the
 * session user in the sandbox — its socket under the sandbox's
 * XDG_RUNTIME_DIR/pulse, its state under the sandbox (HOME), a null sink whose
 * monitor is the default source. The test reads the server itself (pactl's JSON,
 * parsed with the daemon's one schema of a capture stream) and awaits its events
 * (`pactl subscribe`), never the daemon's word alone.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { SourceOutputs } from '../../daemon/sound/pulse.js';
import { start, waitForFile, type Started } from './processes.js';
import { bound } from './bounds.js';
import type { Sandbox } from './sandbox.js';

/** One line of `pactl subscribe`: "Event 'new' on source-output #3". */
export function subscribedEvent(line: string): { kind: 'new' | 'change' | 'remove'; facility: string; index: number } | null {
  const match = /^Event '(new|change|remove)' on ([a-z-]{1,32}) #(\d{1,10})$/.exec(line.trim());
  return match ? { kind: match[1] as 'new' | 'change' | 'remove', facility: match[2]!, index: Number(match[3]) } : null;
}

export interface StreamView {
  index: number;
  pid: number | null;
  mute: boolean;
  corked: boolean;
}

export interface SoundServer {
  socket: string;
  env: NodeJS.ProcessEnv;
  captures(): Promise<StreamView[]>;
  playbacks(): Promise<StreamView[]>;
  /**
   * Resolves once `check` holds for the capture streams: checked now, then after
   * each event of the server about a capture stream. Rejects after `timeoutMs`.
   */
  waitForCaptures(check: (streams: StreamView[]) => boolean, what: string, timeoutMs?: number): Promise<StreamView[]>;
  pactl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const Streams = SourceOutputs; // sink-inputs have the same fields the test reads (index, mute, properties)

function view(json: string): StreamView[] {
  const raw = JSON.parse(json) as { corked?: boolean }[];
  return Streams.parse(raw).map((stream, i) => {
    const pid = Number(stream.properties['application.process.id']);
    return { index: stream.index, pid: Number.isInteger(pid) ? pid : null, mute: stream.mute, corked: raw[i]?.corked === true };
  });
}

/** Which server: Debian's PulseAudio, or PipeWire and its PulseAudio server (pipewire-pulse). */
export type SoundServerKind = 'pulseaudio' | 'pipewire';

async function launch(kind: SoundServerKind, env: NodeJS.ProcessEnv, runtimeDir: string): Promise<{ processes: Started[]; log: () => string }> {
  let log = '';
  const run = (file: string, args: string[]) => {
    const started = start(file, args, { env, extendEnv: false, stdout: 'ignore', stderr: 'pipe' });
    started.child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    return started;
  };
  switch (kind) {
    case 'pulseaudio':
      return { processes: [run('pulseaudio', ['-n', '--daemonize=no', '--exit-idle-time=-1', '--log-target=stderr', '-L', 'module-native-protocol-unix', '-L', 'module-null-sink'])], log: () => log };
    case 'pipewire': {
      // No session manager: nothing links streams, which are listed (and muted) all the same.
      const core = run('pipewire', []);
      await waitForFile(path.join(runtimeDir, 'pipewire-0'), 20_000, "pipewire's socket");
      return { processes: [core, run('pipewire-pulse', [])], log: () => log };
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown sound server ${String(never)}`);
    }
  }
}

export async function startSoundServer(sandbox: Sandbox, kind: SoundServerKind = 'pulseaudio'): Promise<SoundServer> {
  const env = { ...sandbox.env, HOME: sandbox.root };
  const socket = path.join(sandbox.runtimeDir, 'pulse', 'native');
  fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
  const { processes, log } = await launch(kind, env, sandbox.runtimeDir);
  await Promise.race([
    waitForFile(socket, 20_000, 'the sound server socket'),
    ...processes.map((server) =>
      server.exited.then(() => {
        throw new Error(`${kind} exited at start:\n${log()}`);
      }),
    ),
  ]);
  const pactl = async (...args: string[]) => (await execa('pactl', args, { env, extendEnv: false, timeout: 10_000 })).stdout;
  // The socket exists a moment before the server answers on it.
  for (let tries = 0; ; tries++) {
    try {
      await pactl('info');
      break;
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const captures = async () => view(await pactl('-f', 'json', 'list', 'source-outputs'));
  const playbacks = async () => view(await pactl('-f', 'json', 'list', 'sink-inputs'));

  // One subscriber for the server's life, in place before anything is awaited: proven by the
  // event of loading a second null sink (`apart`, where a test moves a stream to listen to it alone).
  const subscriber = start('pactl', ['subscribe'], { env, extendEnv: false, stdout: 'pipe', stderr: 'ignore', buffer: false });
  const listeners = new Set<(event: NonNullable<ReturnType<typeof subscribedEvent>>) => void>();
  readline.createInterface({ input: subscriber.child.stdout! }).on('line', (line) => {
    const event = subscribedEvent(line);
    if (event) for (const listener of [...listeners]) listener(event);
  });
  await new Promise<void>((resolve, reject) => {
    const listener = (event: { kind: string; facility: string }) => {
      if (event.kind === 'new' && event.facility === 'sink') (listeners.delete(listener), resolve());
    };
    listeners.add(listener);
    const load = () => pactl('load-module', 'module-null-sink', 'sink_name=apart').catch(reject);
    // The subscriber has connected once the server counts a second client (pactl's own list is the first).
    const connected = async () => {
      for (let tries = 0; tries < 200; tries++) {
        if ((await pactl('list', 'short', 'clients')).split('\n').filter((l) => /pactl/.test(l)).length >= 2) return load();
        await new Promise((r) => setTimeout(r, 50));
      }
      reject(new Error('pactl subscribe never connected'));
    };
    void connected();
  });

  const waitForCaptures = (check: (streams: StreamView[]) => boolean, what: string, timeoutMs = 20_000): Promise<StreamView[]> =>
    new Promise((resolve, reject) => {
      timeoutMs = bound(timeoutMs);
      let last: StreamView[] = [];
      let done = false;
      let checking = Promise.resolve();
      const finish = (error: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        listeners.delete(listener);
        if (error) reject(error);
        else resolve(last);
      };
      const timer = setTimeout(() => finish(new Error(`the sound server never showed ${what} within ${timeoutMs} ms; its capture streams: ${JSON.stringify(last)}`)), timeoutMs);
      const recheck = () => {
        checking = checking
          .then(async () => {
            if (done) return;
            last = await captures();
            if (check(last)) finish(null);
          })
          .catch((error: Error) => finish(error));
      };
      const listener = (event: { facility: string }) => {
        if (event.facility === 'source-output') recheck();
      };
      // Listening first, then looked: no change can slip in between.
      listeners.add(listener);
      recheck();
    });

  return {
    socket,
    env,
    captures,
    playbacks,
    waitForCaptures,
    pactl,
    async stop() {
      await subscriber.stop();
      for (const server of processes.reverse()) await server.stop();
    },
  };
}
