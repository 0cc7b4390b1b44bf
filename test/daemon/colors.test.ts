/**
 * Network colours without a screen: the palette and contrast, the labels and
 * client.focused commands sent to the WM (markup escaped, plain without a Pango
 * font), the bar's output and the panel's `c` key on a real config file.
 * (The pixels on real sway and i3 are e2e-colors.test.ts.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Color, freeColor, nextColor, PALETTE, textColorOn } from '../../config/colors.js';
import { Config } from '../../config/schema.js';
import { escapeMarkup, focusedCommand, labelFormat, rendersMarkup, userFocusedColors, vmFocusedColors } from '../../daemon/window-colors.js';
import { placeWindowCommands } from '../../daemon/windows.js';
import { renderUpdate } from '../../bar-module/render.js';
import { cycleVmColor } from '../../panel/colors.js';
import { treeRows } from '../../panel/view-model.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';
import type { Node } from '../../wm-ipc/protocol.js';

const t = suite('network colours');

t('colours: #RRGGBB only, kept lower case; readable text on each palette colour; the palette is distinct', () => {
  assert.is(Color.parse('#C62828'), '#c62828');
  for (const bad of ['red', '#c628', '#c62828ff', "#c62828' weight='bold"]) assert.not.ok(Color.safeParse(bad).success, bad);
  assert.match(Config.safeParse({ vms: { a: { qemu: ['q'], color: 'red' } } }).error?.issues[0]?.message ?? '', /#RRGGBB/);
  assert.is(textColorOn('#c62828'), '#ffffff');
  assert.is(textColorOn('#f9a825'), '#000000');
  assert.is(new Set(PALETTE.map((c) => c.hex)).size, PALETTE.length);
  assert.is(freeColor(['#c62828', null, undefined]), '#2e7d32');
  assert.is(nextColor(null), PALETTE[0].hex);
  assert.is(nextColor(PALETTE.at(-1)!.hex), null, 'after the last colour: none');
});

t('labels: plain without a colour; a coloured span with the name escaped; the WM command quotes it', () => {
  assert.is(labelFormat('acme', null), '[acme] %title');
  assert.is(labelFormat('acme', '#c62828'), "<span background='#c62828' foreground='#ffffff'>[acme]</span> %title");
  assert.is(escapeMarkup(`<b>&'"`), '&lt;b&gt;&amp;&#39;&quot;');
  const container = { id: 7 } as Node;
  assert.is(
    placeWindowCommands(container, { name: 'acme', pid: 1, workspace: '3', color: '#c62828' }),
    `[con_id=7] title_format "<span background='#c62828' foreground='#ffffff'>[acme]</span> %title"; [con_id=7] move container to workspace number 3`,
  );
  assert.is(placeWindowCommands(container, { name: 'acme', pid: 1, workspace: null }), '[con_id=7] title_format "[acme] %title"');
});

t('the WM config: markup only with a Pango font; the user\'s client.focused kept to give back', () => {
  assert.ok(rendersMarkup('output X\nfont pango:monospace 10\n'));
  assert.not.ok(rendersMarkup('font -misc-fixed-medium-r-normal--13-120-75-75-C-70-iso10646-1\n# font pango:x\n'));
  assert.equal(userFocusedColors('client.focused #111111 #222222 #333333\n'), ['#111111', '#222222', '#333333', '#2e9ef4', '#222222']);
  assert.equal(userFocusedColors('bar {}\n'), ['#4c7899', '#285577', '#ffffff', '#2e9ef4', '#285577']);
  assert.is(focusedCommand(vmFocusedColors('#2e7d32')), 'client.focused #2e7d32 #2e7d32 #ffffff #2e7d32 #2e7d32');
});

t('the bar: the name on its colour (waybar markup), a line under the block (i3bar); none without a colour', () => {
  const status = daemonStatus([vm('acme', { state: 'running', workspace: '3', color: '#c62828' })], 'acme', '3');
  assert.is(JSON.parse(renderUpdate('waybar', status, { now: 0 })).text, "<span background='#c62828' foreground='#ffffff'> acme </span> ▶");
  const block = JSON.parse(renderUpdate('i3bar', status, { now: 0 }).slice(1, -2));
  assert.equal([block.border, block.border_bottom, block.border_top], ['#c62828', 3, 0]);
  const plain = daemonStatus([vm('acme', { state: 'running', workspace: '3' })], 'acme', '3');
  assert.is(JSON.parse(renderUpdate('waybar', plain, { now: 0 })).text, 'acme ▶');
  assert.is(JSON.parse(renderUpdate('i3bar', plain, { now: 0 }).slice(1, -2)).border, undefined);
  assert.match(treeRows(status, '/nonexistent')[1]!.text, /\{#c62828-fg\}█\{\/#c62828-fg\} acme/);
});

t('the panel\'s c key: the next palette colour written to config.json, the daemon asked to reload; after the last, none', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'colors-'));
  try {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ vms: { acme: { workspace: '3', qemu: ['q'] } } }));
    let reloads = 0;
    const client = { available: true, reload: async () => (reloads++, []) };
    assert.is(await cycleVmColor(client, file, 'acme'), 'acme: red (#c62828)');
    assert.is(JSON.parse(fs.readFileSync(file, 'utf8')).vms.acme.color, '#c62828');
    assert.is(await cycleVmColor(client, file, 'acme'), 'acme: green (#2e7d32)');
    assert.is(reloads, 2);
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    config.vms.acme.color = PALETTE.at(-1)!.hex;
    fs.writeFileSync(file, JSON.stringify(config));
    assert.is(await cycleVmColor(client, file, 'acme'), 'acme: no colour');
    // Only that VM's colour changed: nothing else of the file, no defaults written out.
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')), { vms: { acme: { workspace: '3', qemu: ['q'] } } });
    await cycleVmColor(client, file, 'ghost').then(
      () => assert.unreachable('no such VM'),
      (error: Error) => assert.match(error.message, /cannot change ghost's colour: vms.ghost: no such VM/),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
