/**
 * The microphone's switch latency (issue #23), in a real sound server: how long
 * after a workspace switch is written to sway is the now hidden VM's capture
 * stream muted (and the focused one's unmuted) in PulseAudio?
 *
 *   npm run build && npm run bench:mic              20 switches between two VMs
 *   … -- --switches=N
 *
 * One sway, one PulseAudio (the test sandbox's), two real guests that record
 * (test/harness/sound-guest.ts), the real daemon. t0: right before the bench
 * writes `workspace N` to sway; t1: the bench's own `pactl subscribe` reports the
 * change after which `pactl list` shows the hidden VM's stream muted and the
 * focused VM's unmuted. Goal: 200 ms. Informative: exit 0 either way, 1 only if
 * the bench itself broke.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { guestQemuArgv } from '../test/harness/guest.js';
import { pidsWithArg } from '../test/harness/inspect.js';
import { startDesktop } from '../test/harness/session.js';
import { ensureSoundGuest } from '../test/harness/sound-guest.js';
import { startSoundServer, type StreamView } from '../test/harness/sound-server.js';

const SWITCHES = Number(process.argv.find((a) => a.startsWith('--switches='))?.slice('--switches='.length) ?? 20);
const GOAL_MS = 200;

const guest = await ensureSoundGuest();
const session = await startDesktop('sway', 'micbench');
const sound = await startSoundServer(session.sandbox);
let exitCode = 0;
try {
  const serial = (name: string) => path.join(session.sandbox.root, `${name}.serial`);
  const vm = (name: string, workspace: string) => ({ workspace, whenHidden: 'run', qemu: guestQemuArgv(guest, serial(name)) });
  const daemon = await session.startDaemon({ vms: { a: vm('a', '2'), b: vm('b', '3') }, policy: { pauseAfterMs: 3_600_000 } });
  const up = ['a', 'b'].map((name) => daemon.client.waitForState(name, (c) => c.state === 'running', 180_000));
  for (const ws of ['2', '3']) await session.wmc.command(`workspace ${ws}`);
  await Promise.all(up);
  const pid = (name: string) => pidsWithArg(path.join(session.sandbox.runtimeDir, 'hiboss', name))[0]!;
  const pids = { a: pid('a'), b: pid('b') };
  const heard = (name: 'a' | 'b') => (streams: StreamView[]) => {
    const mine = streams.find((s) => s.pid === pids[name]);
    const other = streams.find((s) => s.pid === pids[name === 'a' ? 'b' : 'a']);
    return mine?.mute === false && other?.mute === true;
  };
  await sound.waitForCaptures(heard('b'), 'b (focused) heard', 180_000);
  const samples: number[] = [];
  /** The daemon's decision, as its MicrophoneChanged signal reaches the bench: the part before the sound server. */
  const decided: number[] = [];
  for (let i = 0; i < SWITCHES; i++) {
    const to = i % 2 === 0 ? 'a' : 'b';
    const done = sound.waitForCaptures(heard(to), `${to} heard`, 10_000);
    const signalled = new Promise<number>((resolve) => {
      const seen = (mic: { vm: string | null }) => mic.vm === to && (daemon.client.off('microphone', seen), resolve(performance.now()));
      daemon.client.on('microphone', seen);
    });
    const t0 = performance.now();
    await session.wmc.command(`workspace ${to === 'a' ? '2' : '3'}`);
    await done;
    samples.push(performance.now() - t0);
    decided.push((await signalled) - t0);
  }
  const stats = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(0);
    return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`;
  };
  console.log(`switch → hidden VM's capture muted in PulseAudio, ${samples.length} switches: ${stats(samples)} (goal ${GOAL_MS} ms: ${samples.filter((s) => s <= GOAL_MS).length}/${samples.length} within)`);
  console.log(`switch → the daemon's MicrophoneChanged at the bench: ${stats(decided)}`);
} catch (error) {
  console.error(`bench broke: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await session.end();
  await sound.stop();
}
process.exit(exitCode);
