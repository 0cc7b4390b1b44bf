/**
 * `hiboss wm workspaces` and `hiboss wm events` against real sway (headless)
 * and real i3 (Xvfb), with a non-ASCII workspace name.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WmClient } from '../../wm-ipc/client.js';
import { LineReader } from '../bar/lines.js';
import { HIBOSS } from '../harness/daemon.js';
import { start, type Started } from '../harness/processes.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startWm, type RunningWm } from '../harness/wm.js';

const NAME = '2: vm-été 🖥 ✓';

interface Workspace {
  name: string;
  num: number;
  focused: boolean;
  visible: boolean;
  output: unknown;
}

async function hiboss(args: string[], env: NodeJS.ProcessEnv) {
  const r = await execa(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 30_000 });
  assert.not.ok(r.timedOut, `hiboss ${args.join(' ')} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function assertFocusedIsName(stdout: string): void {
  // (execa strips the final newline)
  assert.not.ok(stdout.includes('\n'), `one JSON line: ${stdout}`);
  const list = JSON.parse(stdout) as Workspace[];
  assert.ok(Array.isArray(list), 'a JSON array');
  const focused = list.filter((w) => w.focused);
  assert.is(focused.length, 1, stdout);
  assert.is(focused[0]!.name, NAME);
  assert.is(focused[0]!.num, 2);
  assert.is(focused[0]!.focused, true);
  assert.is(focused[0]!.visible, true);
  assert.type(focused[0]!.output, 'string');
  assert.ok((focused[0]!.output as string).length > 0);
}

for (const kind of ['sway', 'i3'] as const) {
  const t = suite(`hiboss wm on real ${kind}`);
  let sandbox: Sandbox;
  let wm: RunningWm;
  let client: WmClient;
  const procs: Started[] = [];

  t.before.each(async () => {
    sandbox = makeSandbox(`cli-${kind}`);
    wm = await startWm(kind, sandbox);
    client = await WmClient.connect({ socketPath: wm.socketPath, reconnect: false });
  });
  t.after.each(async () => {
    client?.close();
    for (const p of procs.splice(0)) await p.stop();
    await wm?.stop();
    sandbox?.remove();
  });

  t('workspaces --json: the focused workspace, its exact name, num, output', async () => {
    await client.command(`workspace "${NAME}"`);
    const r = await hiboss(['wm', 'workspaces', '--json'], wm.env);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr, '');
    assertFocusedIsName(r.stdout);
  });

  t('workspaces (table): a line with the name, marked focused', async () => {
    await client.command(`workspace "${NAME}"`);
    const r = await hiboss(['wm', 'workspaces'], wm.env);
    assert.is(r.code, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.includes(NAME));
    assert.ok(line, r.stdout);
    assert.ok(line!.startsWith('*'), line);
    assert.match(line!, /^\*\s+2\s/);
  });

  if (kind === 'sway') {
    t('without SWAYSOCK the socket is found in $XDG_RUNTIME_DIR', async () => {
      await client.command(`workspace "${NAME}"`);
      const env = { ...wm.env };
      delete env.SWAYSOCK;
      delete env.I3SOCK;
      assert.is(env.XDG_RUNTIME_DIR, sandbox.runtimeDir);
      const r = await hiboss(['wm', 'workspaces', '--json'], env);
      assert.is(r.code, 0, r.stderr);
      assertFocusedIsName(r.stdout);
      // And it was the runtime dir that found it: an empty one finds nothing.
      const empty = path.join(sandbox.root, 'empty-run');
      fs.mkdirSync(empty, { mode: 0o700 });
      const none = await hiboss(['wm', 'workspaces', '--json'], { ...env, XDG_RUNTIME_DIR: empty });
      assert.is(none.code, 1);
      assert.is(none.stdout, '');
      assert.match(none.stderr, /no sway or i3 IPC socket found/);
    });
  }

  t('events workspace tick: JSON lines from the subscription on', async () => {
    const proc = start(process.execPath, [HIBOSS, 'wm', 'events', 'workspace', 'tick'], {
      env: wm.env,
      extendEnv: false,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    procs.push(proc);
    const out = new LineReader(proc.child.stdout!);
    // The WM's first tick after subscribing: the stream is live from here on.
    const first = JSON.parse(await out.next(undefined, 15_000));
    assert.equal(first, { type: 'tick', first: true, payload: '' });
    await client.command(`workspace "${NAME}"`);
    const line = await out.next((l) => JSON.parse(l).type === 'workspace' && JSON.parse(l).change === 'focus', 10_000);
    const event = JSON.parse(line);
    assert.is(event.current.name, NAME);
    assert.is(event.current.num, 2);
    await client.sendTick('from-test');
    assert.equal(JSON.parse(await out.next((l) => JSON.parse(l).type === 'tick')), { type: 'tick', first: false, payload: 'from-test' });
    // Only the types asked for.
    for (const l of out.lines) assert.ok(['workspace', 'tick'].includes(JSON.parse(l).type), l);
  });

  t('events: interrupted with SIGINT, it ends with exit 0', async () => {
    const proc = start(process.execPath, [HIBOSS, 'wm', 'events', 'tick'], {
      env: wm.env,
      extendEnv: false,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    procs.push(proc);
    const out = new LineReader(proc.child.stdout!);
    await out.next((l) => JSON.parse(l).first === true, 15_000);
    // A tick of ours printed: subscribe() has returned, the SIGINT handler is in place.
    await client.sendTick('ready');
    await out.next((l) => JSON.parse(l).payload === 'ready');
    process.kill(proc.pid, 'SIGINT');
    const result = await proc.child;
    assert.is(result.signal, undefined, 'ended by the signal, not by its handler');
    assert.is(result.exitCode, 0, String(result.stderr));
  });

  t('events workspace: a focus change is streamed as a JSON line', async () => {
    const proc = start(process.execPath, [HIBOSS, 'wm', 'events', 'workspace'], {
      env: wm.env,
      extendEnv: false,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    procs.push(proc);
    let stderr = '';
    proc.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const out = new LineReader(proc.child.stdout!);
    // Nothing tells when the subscription is live (no tick here): switch until a
    // focus event for NAME arrives, leaving and coming back each round.
    let line: string | undefined;
    for (let attempt = 0; attempt < 10 && !line; attempt++) {
      await client.command('workspace 1');
      await client.command(`workspace "${NAME}"`);
      line = await out
        .next((l) => {
          const e = JSON.parse(l);
          return e.change === 'focus' && e.current?.name === NAME;
        }, 2_000)
        .catch(() => undefined);
    }
    assert.ok(line, `no focus line; stderr: ${stderr}`);
    const event = JSON.parse(line!);
    assert.is(event.type, 'workspace');
    assert.is(event.change, 'focus');
    assert.is(event.current.name, NAME);
    assert.is(event.old?.name, '1');
    assert.is(stderr, '');
    for (const l of out.lines) assert.is(JSON.parse(l).type, 'workspace', l);
  });

  t.run();
}
