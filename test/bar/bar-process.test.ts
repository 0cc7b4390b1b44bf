/**
 * The real `bin/hiboss bar` process on a private session bus, against a fake
 * daemon service (test/harness/fake-daemon.ts) that the test starts, stops and
 * drives: down line, pick-up, one line per signal, restarts, EPIPE, clicks.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { start, type Started } from '../harness/processes.js';
import { daemonStatus, startFakeDaemon, vmFixture as vm, type FakeDaemon } from '../harness/fake-daemon.js';
import { LineReader } from './lines.js';

const HIBOSS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/hiboss');

const t = suite('hiboss bar process');
let sandbox: Sandbox;
let bus: RunningBus;
let daemon: FakeDaemon | undefined;
const procs: Started[] = [];

t.before.each(async () => {
  sandbox = makeSandbox('bar');
  bus = await startSessionBus(sandbox.env);
});
t.after.each(async () => {
  daemon?.stop();
  daemon = undefined;
  for (const p of procs.splice(0)) await p.stop();
  bus?.stop();
  sandbox?.remove();
});

function startBar(args: string[] = []): { proc: Started; out: LineReader; err: LineReader; stderr: () => string } {
  const proc = start(HIBOSS, ['bar', ...args], {
    env: { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: bus.address },
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  procs.push(proc);
  const err = new LineReader(proc.child.stderr!);
  return { proc, out: new LineReader(proc.child.stdout!), err, stderr: () => err.lines.map((line) => `${line}\n`).join('') };
}

const twoVms = () =>
  daemonStatus([vm('web', { state: 'running', workspace: '2' }), vm('mail', { state: 'paused', workspace: '3' })], 'web', '2');

const parse = (line: string) => JSON.parse(line) as { text: string; class: string; tooltip: string };

t('daemon absent → down; daemon appears → real line; StateChanged → a new line fast; no duplicates', async () => {
  const { out } = startBar();
  assert.equal(parse(await out.next()), { text: '⚠ hiboss down', alt: 'down', class: 'down', tooltip: 'hiboss: the daemon is not running' });
  daemon = await startFakeDaemon(bus.address, twoVms());
  const up = parse(await out.next());
  assert.is(up.text, 'web ▶');
  assert.is(up.class, 'running');
  assert.match(up.tooltip, /‖ mail: paused · ws 3/);

  // Each signal gives one line, in order (how fast is printed, not asserted: timing belongs in bench/).
  const latencies: number[] = [];
  for (const state of ['paused', 'running', 'paused', 'running', 'paused', 'running'] as const) {
    const sent = performance.now();
    const line = out.next();
    daemon.setState('web', state);
    assert.is(parse(await line).class, state);
    latencies.push(out.times.at(-1)! - sent);
  }
  latencies.sort((a, b) => a - b);
  console.log(`  signal → line latency ms: ${latencies.map((l) => l.toFixed(1)).join(' ')}`);

  // A signal that changes nothing visible prints nothing: the next line is the next real change.
  const before = out.lines.length;
  daemon.setState('mail', 'paused');
  daemon.setState('web', 'stopped');
  assert.is(parse(await out.next()).class, 'stopped');
  assert.is(out.lines.length, before + 1, `duplicate lines: ${out.lines.slice(before)}`);
});

t('daemon restarted under the running bar → down, then picked up again', async () => {
  daemon = await startFakeDaemon(bus.address, twoVms());
  const { out } = startBar();
  assert.is(parse(await out.next()).text, 'web ▶');
  daemon.stop();
  assert.is(parse(await out.next()).class, 'down');
  daemon = await startFakeDaemon(bus.address, daemonStatus([vm('web', { state: 'starting', workspace: '2' })], 'web', '2'));
  assert.is(parse(await out.next()).text, 'web …');
  // Signals from the new daemon reach the bar too.
  const next = out.next();
  daemon.setState('web', 'running');
  assert.is(parse(await next).text, 'web ▶');
});

t('stdout closed (waybar reload) → exits 0 quietly at the next write', async () => {
  daemon = await startFakeDaemon(bus.address, twoVms());
  const { proc, out, stderr } = startBar();
  await out.next();
  proc.child.stdout!.destroy();
  daemon.setState('web', 'paused');
  await proc.exited;
  const result = await proc.child;
  assert.is(result.exitCode, 0, `exit ${result.exitCode} ${result.signal ?? ''}: ${stderr()}`);
  assert.is(stderr(), '');
});

t('idle: no wake-ups while nothing happens (context switches over a quiet second)', async () => {
  daemon = await startFakeDaemon(bus.address, twoVms());
  const { proc, out } = startBar();
  await out.next();
  // Absence of activity can only be observed over time: this wait is the measurement.
  const switches = () =>
    fs.readdirSync(`/proc/${proc.pid}/task`).reduce((sum, task) => {
      const text = fs.readFileSync(`/proc/${proc.pid}/task/${task}/status`, 'utf8');
      return sum + Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(text)?.[1] ?? 0);
    }, 0);
  await new Promise((resolve) => setTimeout(resolve, 500)); // let start-up work (JIT, GC) settle
  const before = switches();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const delta = switches() - before;
  console.log(`  voluntary context switches while idle for 1.5 s: ${delta}`);
  assert.ok(delta <= 5, `${delta} wake-ups while idle`);
  assert.is(out.lines.length, 1);
});

t('i3bar: header, array lines, clicks act via D-Bus; malformed click lines are logged and skipped', async () => {
  daemon = await startFakeDaemon(bus.address, twoVms());
  const acted: [string, string][] = [];
  let onAct!: () => void;
  daemon.iface.onAct = (verb, name) => {
    acted.push([verb, name]);
    if (acted.length === 3) onAct();
  };
  const allActed = new Promise<void>((resolve) => (onAct = resolve));
  const { proc, out, err, stderr } = startBar(['--format', 'i3bar']);
  assert.is(await out.next(), '{"version":1,"click_events":true}');
  assert.is(await out.next(undefined, 10_000, 1), '[');
  const first = await out.next(undefined, 10_000, 2);
  assert.is(first, '[{"full_text":"web ▶","short_text":"▶","name":"hiboss","instance":"web","color":"#a6e3a1","markup":"none"}],');
  const stdin = proc.child.stdin!;
  stdin.write('[\n');
  stdin.write('{"name":"hiboss","instance":"web","button":1,"x":1,"y":2}\n');
  stdin.write(',{"name":"hiboss","instance":"web","button":"oops"}\n');
  stdin.write(',not json at all\n');
  stdin.write(`,${'{'.repeat(10_000)}\n`);
  stdin.write(',{"name":"hiboss","instance":"web","button":4}\n');
  stdin.write(',{"name":"hiboss","instance":"web","button":5}\n');
  await allActed;
  assert.equal(acted, [['toggle', 'web'], ['next', ''], ['prev', '']]);
  // The acts came through D-Bus; the bar's stderr is another pipe: wait for its third line.
  await err.next(undefined, 10_000, 2);
  const logged = stderr().trim().split('\n');
  assert.is(logged.length, 3, stderr());
  for (const line of logged) assert.match(line, /^hiboss bar: ignored a malformed click event/);
  // A state change still gets through after the junk.
  const next = out.next();
  daemon.setState('web', 'paused');
  assert.match(await next, /^\[\{"full_text":"web ‖"/);
});

t('i3blocks: one text line per update; --once prints the three-line convention', async () => {
  daemon = await startFakeDaemon(bus.address, twoVms());
  const { out } = startBar(['--format', 'i3blocks']);
  assert.is(await out.next(), 'web ▶');
  const next = out.next();
  daemon.setState('web', 'failed', 'boom');
  assert.is(await next, 'web ✖');
  const once = startBar(['--format', 'i3blocks', '--once']);
  await once.proc.exited;
  assert.equal(once.out.lines, ['web ✖', '✖', '#f38ba8']);
});

t.run();
