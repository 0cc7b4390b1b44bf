/**
 * Memory as the clients show it: the bar's tooltip (a hibernated VM
 * on disk, the total against the budget), its class and glyph, the middle click;
 * the panel's memory section and its `h` key.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTooltip, renderUpdate, renderI3barBlock, STATE_COLOURS, type RenderContext } from '../../bar-module/render.js';
import { clickAction } from '../../bar-module/clicks.js';
import { memoryLines } from '../../panel/memory-view.js';
import { ACTION_KEYS, runVmAction, type PanelClient } from '../../panel/actions.js';
import { VmState } from '../../api/schema.js';
import { STATE_GLYPHS } from '../../api/states.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';

const MiB = 1024 * 1024;
const ctx: RenderContext = { now: 10_000_000, clock: (ms) => `T${ms}` };

const status = {
  ...daemonStatus(
    [
      vm('web', { state: 'running', workspace: '2', rssBytes: 300 * MiB }),
      vm('mail', { state: 'hibernated', workspace: '3', reason: 'workspace hidden for 15 min: saved to disk (96 MiB)', image: { bytes: 96 * MiB, savedAt: 1_700_000_000_000 }, lastSaveMs: 420 }),
    ],
    'web',
    '2',
  ),
  memory: { heldBytes: 300 * MiB, budgetMiB: 512 },
};

const m = suite('memory as the bar and the panel show it');

m('the new states are API states, each with a glyph and a colour', () => {
  for (const state of ['saving', 'hibernated', 'restoring'] as const) {
    assert.ok(VmState.safeParse(state).success);
    assert.ok(STATE_GLYPHS[state]);
    assert.ok(STATE_COLOURS[state]);
  }
});

m('tooltip: a hibernated VM is on disk (no RAM), and the total is told against the budget', () => {
  assert.is(
    renderTooltip(status, ctx),
    'hiboss — workspace 2\n' +
      '› ▶ web: running · ws 2 · 300 MiB\n' +
      '  ❄ mail: hibernated · ws 3 · on disk 96 MiB\n' +
      'memory: 300 MiB held of a 512 MiB budget',
  );
  const noBudget = { ...status, memory: { heldBytes: 300 * MiB, budgetMiB: null } };
  assert.match(renderTooltip(noBudget, ctx), /\nmemory: 300 MiB held$/);
});

m('the bar on a hibernated VM: its glyph, its CSS class, its i3bar colour', () => {
  const focusedMail = { ...status, focusedVm: 'mail', focusedWorkspace: '3' };
  const line = JSON.parse(renderUpdate('waybar', focusedMail, ctx)) as { text: string; class: string; alt: string };
  assert.is(line.text, 'mail ❄');
  assert.is(line.class, 'hibernated');
  assert.is(line.alt, 'hibernated');
  assert.is(renderI3barBlock(focusedMail, ctx).color, STATE_COLOURS.hibernated);
});

m('middle click hibernates the clicked VM (nothing when there is no VM)', () => {
  assert.equal(clickAction({ button: 2, instance: 'web' }), { kind: 'act', verb: 'hibernate', name: 'web' });
  assert.is(clickAction({ button: 2, instance: 'none' }), null);
});

m('panel: the memory section says where the VM is, how long saves take, what went wrong, and the total', () => {
  const [, mail] = status.vms;
  assert.equal(memoryLines(mail!, status, () => 'WHEN'), [
    '',
    '{bold}memory{/bold}  (h hibernate, p resumes a hibernated VM)',
    'image      96 MiB on disk, saved WHEN — it holds no RAM',
    'last save  420 ms   last restore  -',
    'all VMs    300 MiB held of a 512 MiB budget',
  ]);
  const failed = vm('web', {
    state: 'paused',
    memoryProblem: 'could not save to disk: no space left on device {ENOSPC}',
    hibernates: false,
    asideImages: [
      { file: 'memory-image.unrestorable-20260102T120000Z.bin', bytes: 64 * 1048576, at: 2 },
      { file: 'memory-image.unrestorable-20260101T120000Z.bin', bytes: 32 * 1048576, at: 1 },
    ],
  });
  assert.equal(memoryLines(failed, daemonStatus([failed], null), (at) => `WHEN${at}`), [
    '',
    '{bold}memory{/bold}  (h hibernate: off for this VM, p resumes a hibernated VM)',
    '{red-fg}could not save to disk: no space left on device {open}ENOSPC{close}{/red-fg}',
    'set aside  2 images that could not be restored, 96 MiB (newest WHEN2)',
  ]);
});

m('panel: h hibernates the selected VM through Act; p resumes a hibernated one', async () => {
  const calls: string[] = [];
  const client = {
    act: async (verb: string, name: string) => (calls.push(`act ${verb} ${name}`), `${name}: ${verb} (saving to disk)`),
    resume: async (name: string) => (calls.push(`resume ${name}`), `${name}: resume`),
    pause: async (name: string) => (calls.push(`pause ${name}`), `${name}: pause`),
  } as unknown as PanelClient;
  assert.is(ACTION_KEYS.h, 'hibernate');
  assert.is(await runVmAction(client, 'hibernate', status.vms[0]!), 'web: hibernate (saving to disk)');
  await runVmAction(client, 'pause-resume', status.vms[1]!);
  assert.equal(calls, ['act hibernate web', 'resume mail']);
});

m.run();
