/** Rendering (status → exact output, per format), click parsing and the bar's loop with a stand-in client. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import sinon from 'sinon';
import { EventEmitter } from 'node:events';
import { renderI3blocksOnce, renderTooltip, renderUpdate, type RenderContext } from '../../bar-module/render.js';
import { clickAction, LineSplitter, MAX_CLICK_LINE, parseClickLine } from '../../bar-module/clicks.js';
import { Bar, type BarClient } from '../../bar-module/bar.js';
import { DaemonCallError, DaemonUnavailableError } from '../../api/client.js';
import type { DaemonStatus } from '../../api/schema.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';

const NOW = 10_000_000;
const ctx: RenderContext = { now: NOW, clock: (ms) => `T${ms}` };
const MiB = 1024 * 1024;

const twoVms = daemonStatus(
  [
    vm('web', { state: 'running', workspace: '2', uptimeMs: 60_000, rssBytes: 512 * MiB, memoryBudgetMiB: 2048 }),
    vm('mail<&>', { state: 'failed', reason: 'QEMU exited with code 1:\n  bad   disk', workspace: null }),
  ],
  'web',
  '2',
);

const r = suite('render');

r('waybar: focused VM with memory → name + glyph, state class, tooltip with every VM, percentage', () => {
  assert.is(
    renderUpdate('waybar', twoVms, ctx),
    JSON.stringify({
      text: 'web ▶',
      alt: 'running',
      class: 'running',
      tooltip:
        'hiboss — workspace 2\n' +
        '› ▶ web: running · ws 2 · 512/2048 MiB · up since T9940000\n' +
        '  ✖ mail&lt;&amp;&gt;: failed · no workspace — QEMU exited with code 1: bad disk',
      percentage: 25,
    }),
  );
});

r('a VM running while its workspace is hidden ("whenHidden": "run"): its own glyph in the tooltip, a runs-hidden class and mark', () => {
  const status = daemonStatus(
    [vm('web', { state: 'running', workspace: '2' }), vm('build', { state: 'running', workspace: '3', whenHidden: 'run', runsHidden: true })],
    'web',
    '2',
  );
  assert.is(
    renderUpdate('waybar', status, ctx),
    JSON.stringify({
      text: 'web ▶ ↻',
      alt: 'running',
      class: ['running', 'runs-hidden'],
      tooltip: 'hiboss — workspace 2\n› ▶ web: running · ws 2\n  ↻ build: running (runs hidden) · ws 3',
    }),
  );
  assert.match(renderUpdate('i3bar', status, ctx), /"full_text":"web ▶ ↻"/);
});

r('waybar: daemon absent → down line', () => {
  assert.is(
    renderUpdate('waybar', null, ctx),
    '{"text":"⚠ hiboss down","alt":"down","class":"down","tooltip":"hiboss: the daemon is not running"}',
  );
});

r('waybar: workspace without VM → · and none; no percentage without a budget', () => {
  const status = daemonStatus([vm('web', { state: 'paused', workspace: '2', heldByUser: true, rssBytes: 3 * MiB })], null, '5');
  status.configProblems = ['x: bad'];
  assert.is(
    renderUpdate('waybar', status, ctx),
    JSON.stringify({
      text: '·',
      alt: 'none',
      class: 'none',
      tooltip: 'hiboss — workspace 5\n  ‖ web: paused (held) · ws 2 · 3 MiB\nconfig refused (1 problem): the last good one is in force',
    }),
  );
  const paused = renderUpdate('waybar', { ...status, focusedVm: 'web' }, ctx);
  assert.ok(!paused.includes('percentage'), paused);
  assert.ok(paused.startsWith('{"text":"web ‖","alt":"paused","class":"paused"'), paused);
});

r('tooltip: a flake VM\'s last update news (old → new revision, or the rollback) on its own line', () => {
  const acme = vm('acme', { kind: 'flake', state: 'running', workspace: '3', lastUpdate: 'acme: update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2' });
  assert.is(
    renderTooltip(daemonStatus([acme], 'acme', '3'), ctx),
    'hiboss — workspace 3\n› ▶ acme: running · ws 3\n    acme: update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2',
  );
});

r('tooltip: no VMs configured', () => {
  assert.is(renderTooltip(daemonStatus([], null, null), ctx), 'hiboss\nno VMs configured');
});

r('i3bar: one array element per update with name/instance/colour; failed is urgent', () => {
  assert.is(
    renderUpdate('i3bar', twoVms, ctx),
    '[{"full_text":"web ▶","short_text":"▶","name":"hiboss","instance":"web","color":"#a6e3a1","markup":"none"}],',
  );
  assert.is(
    renderUpdate('i3bar', { ...twoVms, focusedVm: 'mail<&>' }, ctx),
    '[{"full_text":"mail<&> ✖","short_text":"✖","name":"hiboss","instance":"mail<&>","color":"#f38ba8","markup":"none","urgent":true}],',
  );
  assert.is(
    renderUpdate('i3bar', null, ctx),
    '[{"full_text":"⚠ hiboss down","short_text":"⚠","name":"hiboss","instance":"down","color":"#fab387","markup":"none"}],',
  );
});

r('i3blocks: text per update; --once gives full/short/colour lines; json variant', () => {
  assert.is(renderUpdate('i3blocks', twoVms, ctx), 'web ▶');
  assert.is(renderUpdate('i3blocks', null, ctx), '⚠ hiboss down');
  assert.is(renderI3blocksOnce(twoVms, ctx), 'web ▶\n▶\n#a6e3a1');
  assert.is(renderI3blocksOnce(daemonStatus([], null), ctx), '·\n·\n#6c7086');
  assert.is(
    renderUpdate('i3blocks-json', twoVms, ctx),
    '{"full_text":"web ▶","short_text":"▶","name":"hiboss","instance":"web","color":"#a6e3a1","markup":"none"}',
  );
});

const c = suite('clicks');

c('i3bar click lines: opening bracket, first and later events', () => {
  assert.equal(parseClickLine('['), { kind: 'skip' });
  assert.equal(parseClickLine(''), { kind: 'skip' });
  assert.equal(parseClickLine('{"name":"hiboss","instance":"web","button":1,"x":3,"y":4,"modifiers":[]}'), {
    kind: 'click',
    event: { name: 'hiboss', instance: 'web', button: 1 },
  });
  assert.equal(parseClickLine(',{"name":"hiboss","instance":"down","button":5}'), {
    kind: 'click',
    event: { name: 'hiboss', instance: 'down', button: 5 },
  });
});

c('malformed lines are invalid, never thrown', () => {
  for (const line of ['{', 'null', '[1,2]', '{"button":"1"}', '{"button":1.5}', '{"name":5,"button":1}', ',,{"button":1}', 'x'.repeat(MAX_CLICK_LINE + 1)]) {
    const parsed = parseClickLine(line);
    assert.is(parsed.kind, 'invalid', line.slice(0, 40));
  }
});

c('buttons map to verbs', () => {
  assert.equal(clickAction({ button: 1, instance: 'web' }), { kind: 'act', verb: 'toggle', name: 'web' });
  assert.equal(clickAction({ button: 1, instance: 'none' }), { kind: 'act', verb: 'toggle', name: '' });
  assert.equal(clickAction({ button: 3 }), { kind: 'panel' });
  assert.equal(clickAction({ button: 4 }), { kind: 'act', verb: 'next', name: '' });
  assert.equal(clickAction({ button: 5 }), { kind: 'act', verb: 'prev', name: '' });
  assert.is(clickAction({ button: 2 }), null);
});

c('line splitter: split chunks, bounded lines', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((l) => lines.push(l), 10);
  splitter.push('ab');
  splitter.push('c\nde');
  splitter.push('f\n' + 'x'.repeat(25));
  splitter.push('y\nok\nlast');
  splitter.end();
  assert.equal(lines, ['abc', 'def', 'x'.repeat(11), 'ok', 'last']);
});

/** A client stand-in whose status() the test answers by hand. */
class StubClient extends EventEmitter {
  available = true;
  status = sinon.stub<[], Promise<DaemonStatus>>();
  act = sinon.stub<[string, string?], Promise<string>>().resolves('ok');
}

const b = suite('bar loop');

b('prints once per distinct line; a signal during a fetch refetches instead of printing stale', async () => {
  const client = new StubClient();
  const out: string[] = [];
  const bar = new Bar({ format: 'i3blocks', write: (t) => out.push(t), log: () => {}, openPanel: () => {}, now: () => NOW });
  let answer!: (s: DaemonStatus) => void;
  client.status.onFirstCall().returns(new Promise((resolve) => (answer = resolve)));
  client.status.onSecondCall().resolves(daemonStatus([vm('web', { state: 'paused' })], 'web'));
  client.status.resolves(daemonStatus([vm('web', { state: 'paused' })], 'web'));
  bar.start(client as unknown as BarClient);
  client.emit('state', { name: 'web', state: 'paused', reason: '' }); // arrives while the first fetch is pending
  answer(daemonStatus([vm('web', { state: 'running' })], 'web'));
  await bar.refresh();
  assert.equal(out, ['web ‖\n']);
  client.emit('focus', { workspace: '1', vm: 'web' });
  await bar.refresh();
  assert.equal(out, ['web ‖\n'], 'identical line not repeated');
  client.available = false;
  client.emit('down');
  await bar.refresh();
  assert.equal(out, ['web ‖\n', '⚠ hiboss down\n']);
  assert.is(client.status.callCount, 4);
});

b('i3bar: header first; clicks act through the client; malformed and foreign clicks are logged/ignored', async () => {
  const client = new StubClient();
  client.status.resolves(daemonStatus([vm('web', { state: 'running' })], 'web'));
  const out: string[] = [];
  const logs: string[] = [];
  const openPanel = sinon.spy();
  const bar = new Bar({ format: 'i3bar', write: (t) => out.push(t), log: (l) => logs.push(l), openPanel, now: () => NOW });
  bar.start(client as unknown as BarClient);
  await bar.refresh();
  assert.is(out[0], '{"version":1,"click_events":true}\n[\n');
  assert.ok(out[1]!.startsWith('[{"full_text":"web ▶"'));
  await bar.click('[');
  await bar.click('{"name":"hiboss","instance":"web","button":1}');
  await bar.click(',{"name":"clock","instance":"x","button":1}');
  await bar.click(',{"name":"hiboss","instance":"web","button":4}');
  await bar.click(',{"name":"hiboss","instance":"web","button":3}');
  await bar.click(',{"name":"hiboss","button":"one"}');
  assert.equal(client.act.args, [['toggle', 'web'], ['next', '']]);
  assert.is(openPanel.callCount, 1);
  assert.is(logs.length, 1);
  assert.match(logs[0]!, /malformed click/);
  client.act.rejects(new DaemonUnavailableError('the hiboss daemon is not running'));
  await bar.click('{"name":"hiboss","instance":"web","button":5}');
  assert.match(logs[1]!, /prev: the hiboss daemon is not running/);
});

b('a failing Status() keeps the shown line and is retried with backoff, not forever', async () => {
  const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  try {
    const client = new StubClient();
    const out: string[] = [];
    const logs: string[] = [];
    const bar = new Bar({ format: 'i3blocks', write: (t) => out.push(t), log: (l) => logs.push(l), openPanel: () => {}, now: () => NOW });
    client.status.rejects(new DaemonCallError('org.freedesktop.DBus.Error.Failed', 'not ready'));
    bar.start(client as unknown as BarClient);
    await bar.refresh();
    assert.equal(out, [], 'no "down" flash for a daemon that is there');
    assert.is(client.status.callCount, 2);
    client.status.resolves(daemonStatus([vm('web', { state: 'running' })], 'web'));
    await clock.tickAsync(100);
    await bar.refresh();
    assert.equal(out, ['web ▶\n']);
    // A daemon that never answers well: a bounded number of retries, then only signals wake us.
    client.status.rejects(new DaemonCallError('org.freedesktop.DBus.Error.Failed', 'broken'));
    client.emit('state', { name: 'web', state: 'paused', reason: '' });
    await bar.refresh();
    const before = client.status.callCount;
    await clock.tickAsync(60_000);
    assert.is(client.status.callCount - before, 6);
    assert.is(clock.countTimers(), 0);
    assert.match(logs[0]!, /cannot read the daemon's status: not ready/);
    bar.stop();
  } finally {
    clock.restore();
  }
});

r.run();
c.run();
b.run();
