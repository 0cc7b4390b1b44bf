/**
 * `hiboss bar` against the real daemon (bin/hiboss daemon) in headless sway with
 * a real (bare) QEMU: the bar follows focus and state, an i3bar click toggles the
 * VM through the daemon, and a daemon restart under the running bar is followed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HIBOSS, type RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest } from '../harness/fixtures.js';
import { start, type Started } from '../harness/processes.js';
import { BARE_QEMU } from '../harness/qemu.js';
import { LineReader } from './lines.js';

const t = suite('hiboss bar with the real daemon');
let daemon: RunningDaemon | undefined;
const procs: Started[] = [];
// Registered before the desktop's: the bars stop before their desktop ends.
t.after.each(async () => {
  for (const p of procs.splice(0)) await p.stop();
});
const session = desktopPerTest(t, 'sway', 'bar-e2e');

function startBar(args: string[]): { proc: Started; out: LineReader; stderr: () => string } {
  const proc = start(process.execPath, [HIBOSS, 'bar', ...args], {
    env: { ...session.wm.env, DBUS_SESSION_BUS_ADDRESS: session.bus.address },
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  procs.push(proc);
  let err = '';
  proc.child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { proc, out: new LineReader(proc.child.stdout!), stderr: () => err };
}

type Waybar = { text: string; class: string; tooltip: string; percentage?: number };
const parse = (line: string) => JSON.parse(line) as Waybar;
const waybarLine = (out: LineReader, ok: (l: Waybar) => boolean, timeoutMs = 20_000) =>
  out.next((line) => ok(parse(line)), timeoutMs).then(parse);
const i3barState = (state: string) => (line: string) => line.startsWith('[{') && JSON.parse(line.slice(0, -1))[0].instance === 'web' && line.includes(`"full_text":"web ${state}"`);

const config = {
  vms: { web: { workspace: '2', qemu: BARE_QEMU, memoryMiB: 64 } },
  policy: { pauseAfterMs: 200, powerdownTimeoutMs: 500 },
};

t('down → none → starting/running on focus → paused when hidden; click toggles; daemon restart followed', async () => {
  const waybar = startBar([]);
  const i3bar = startBar(['--format', 'i3bar']);
  assert.is(parse(await waybar.out.next()).class, 'down');
  assert.is(await i3bar.out.next(undefined, 10_000, 0), '{"version":1,"click_events":true}');

  daemon = await session.startDaemon(config);
  // Workspace 1 has no VM: "·", and the tooltip lists web as stopped.
  const none = await waybarLine(waybar.out, (l) => l.class === 'none').catch((e) => {
    throw new Error(`${e.message}\nbar stderr: ${waybar.stderr()}`);
  });
  assert.is(none.text, '·');
  assert.match(none.tooltip, /■ web: stopped · ws 2 · -\/64 MiB/);

  // Focus workspace 2: the daemon boots the VM, the bar follows (how fast is the bench's business, not a test's).
  let signalAt = 0;
  const running = daemon.client.waitForState('web', (c) => c.state === 'running', 30_000).then(() => (signalAt = performance.now()));
  const runningLine = waybarLine(waybar.out, (l) => l.class === 'running', 30_000);
  await session.wmc.command('workspace 2');
  const shown = await runningLine;
  await running;
  const latency = waybar.out.times[waybar.out.lines.length - 1]! - signalAt;
  console.log(`  real daemon: StateChanged(running) → bar line: ${latency.toFixed(1)} ms`);
  assert.is(shown.text, 'web ▶');
  assert.match(shown.tooltip, /› ▶ web: running · ws 2/);
  await i3bar.out.next(i3barState('▶'), 10_000, 0);

  // An i3bar click (button 1) toggles the VM through the daemon's Act.
  const pausedByClick = waybarLine(waybar.out, (l) => l.text === 'web ‖', 10_000);
  i3bar.proc.child.stdin!.write('[\n{"name":"hiboss","instance":"web","button":1,"x":5,"y":5}\n');
  await pausedByClick;
  await i3bar.out.next(i3barState('‖'), 10_000, 0);
  assert.is(i3bar.stderr(), '');

  // The daemon goes away under the running bars, then comes back and adopts the VM.
  await daemon.stop();
  daemon = undefined;
  await waybarLine(waybar.out, (l) => l.class === 'down', 10_000);
  await i3bar.out.next((l) => l.includes('"instance":"down"'), 10_000, 0);
  daemon = await session.startDaemon();
  // The pause was the user's (a click): the new daemon keeps it held, and the bar says so.
  await waybarLine(waybar.out, (l) => l.text === 'web ‖', 20_000);
  await session.wmc.command('workspace 1');
  await session.wmc.command('workspace 2');
  // Signals from the new daemon reach the running bar; a click releases the hold.
  const resumedByClick = waybarLine(waybar.out, (l) => l.text === 'web ▶', 20_000);
  i3bar.proc.child.stdin!.write(',{"name":"hiboss","instance":"web","button":1,"x":5,"y":5}\n');
  await resumedByClick;
  // Status() must answer as soon as the daemon's name is on the bus: clients ask right then.
  assert.is(waybar.stderr(), '', 'the daemon failed a Status() call (asked on NameOwnerChanged)');
});

t('a daemon started while a VM workspace is focused: the bar shows that VM', async () => {
  await session.wmc.command('workspace 2');
  const waybar = startBar([]);
  assert.is(parse(await waybar.out.next()).class, 'down');
  daemon = await session.startDaemon(config);
  const line = await waybarLine(waybar.out, (l) => /^web /.test(l.text), 20_000).catch((error: Error) => {
    throw new Error(`the daemon never reported workspace 2's VM as focused (Status().focusedVm) after starting on it: ${error.message}`);
  });
  assert.match(line.tooltip, /^hiboss — workspace 2\n/);
});

t.run();
