/**
 * The microphone guard against both real servers of the PulseAudio protocol —
 * Debian's PulseAudio 16 and PipeWire's pipewire-pulse — without VMs: three real
 * recording programs (parec) stand for two VMs' QEMUs (the guard knows a VM's
 * stream by its process id) and a program of the member's. Checked in the
 * server (pactl's listing), awaited on its events. The same guard with real
 * guests and the real daemon: e2e-sound.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MicGuard } from '../../daemon/sound/mic-guard.js';
import { bounded } from '../harness/bounded.js';
import { start, type Started } from '../harness/processes.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSoundServer, type SoundServer, type SoundServerKind, type StreamView } from '../harness/sound-server.js';

for (const kind of ['pulseaudio', 'pipewire'] as const satisfies readonly SoundServerKind[]) {
  const t = suite(`microphone guard in ${kind === 'pipewire' ? "PipeWire's pipewire-pulse" : 'PulseAudio'}`);
  const test = bounded(t, 60_000);
  let sandbox: Sandbox;
  let sound: SoundServer;
  let guard: MicGuard;
  const recorders = new Map<string, Started>();
  const logs: string[] = [];

  const record = (name: string) => recorders.set(name, start('parec', ['--device=apart.monitor', '--raw'], { env: sound.env, extendEnv: false, stdout: 'ignore' }));
  const pidOf = (name: string) => recorders.get(name)!.pid;
  /** Each recorder's stream: muted or not. */
  const state = (streams: StreamView[]) => Object.fromEntries([...recorders.keys()].map((name) => [name, streams.find((s) => s.pid === pidOf(name))?.mute ?? 'no stream']));
  const shows = (want: Record<string, boolean>, what: string) => sound.waitForCaptures((streams) => JSON.stringify(state(streams)) === JSON.stringify(want), what);

  t.before(async () => {
    sandbox = makeSandbox(`mic-${kind}`);
    sound = await startSoundServer(sandbox, kind);
    guard = new MicGuard({
      env: sound.env,
      // Two "VMs", whose recording processes stand for their QEMUs; `host` is the member's own.
      pids: () => new Map(['a', 'b'].filter((name) => recorders.has(name)).map((name) => [name, pidOf(name)])),
      log: (message) => logs.push(message),
    });
    guard.start();
  });
  t.after(async () => {
    guard?.close();
    for (const recorder of recorders.values()) await recorder.stop();
    await sound?.stop();
    sandbox?.remove();
  });

  test('the holder\'s stream unmuted, the other VM\'s muted, the member\'s own untouched; a switch swaps them', async () => {
    for (const name of ['a', 'b', 'host']) record(name);
    guard.hold('a');
    await shows({ a: false, b: true, host: false }, 'a heard, b muted, host untouched');
    guard.hold('b');
    await shows({ a: true, b: false, host: false }, 'b heard, a muted');
  });

  test('a stream unmuted in a mixer is muted again; nobody holding mutes every VM', async () => {
    const a = (await sound.captures()).find((s) => s.pid === pidOf('a'))!;
    await sound.pactl('set-source-output-mute', String(a.index), '0');
    await shows({ a: true, b: false, host: false }, 'a muted again');
    guard.hold(null);
    await shows({ a: true, b: true, host: false }, 'every VM muted');
  });

  test('the server restarts: the guard reconnects and mutes new VM streams (fails closed)', async () => {
    for (const recorder of recorders.values()) await recorder.stop();
    recorders.clear();
    await sound.stop();
    sound = await startSoundServer(sandbox, kind);
    for (const name of ['a', 'b', 'host']) record(name);
    await shows({ a: true, b: true, host: false }, 'both VMs muted on the new server');
    assert.ok(logs.some((line) => /lost the sound server/.test(line)), `the loss is logged: ${logs.join(' | ')}`);
    guard.hold('b');
    await shows({ a: true, b: false, host: false }, 'b heard again after the restart');
  });

  t.run();
}
