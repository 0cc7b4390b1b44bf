import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { placeWindowCommands, quoteForWm, vmOfWindow, workspaceCommand } from '../../daemon/windows.js';
import type { Node } from '../../wm-ipc/protocol.js';

const t = suite('VM windows: matching and placement commands');

const node = (fields: Partial<Node>): Node => ({ id: 42, name: null, type: 'con', focused: false, nodes: [], floating_nodes: [], ...fields });
const vms = [
  { name: 'family', pid: 1234, workspace: '2' },
  { name: 'acme', pid: 5678, workspace: '3: acme "hq"' },
];

t('sway: a window is matched by its pid', () => {
  assert.is(vmOfWindow(node({ pid: 5678, app_id: 'qemu' }), vms)?.name, 'acme');
  assert.is(vmOfWindow(node({ pid: 999 }), vms), undefined);
});

t('i3: X11 windows carry no pid, QEMU\'s title "QEMU (NAME)" identifies them', () => {
  assert.is(vmOfWindow(node({ window_properties: { title: 'QEMU (family) - Press Ctrl+Alt+G' } }), vms)?.name, 'family');
  assert.is(vmOfWindow(node({ window_properties: { title: 'QEMU (other)' } }), vms), undefined);
});

t('placement labels the window and moves it; a bare number means workspace number N', () => {
  assert.is(
    placeWindowCommands(node({}), vms[0]!),
    '[con_id=42] title_format "[family] %title"; [con_id=42] move container to workspace number 2',
  );
  assert.is(
    placeWindowCommands(node({}), vms[1]!),
    '[con_id=42] title_format "[acme] %title"; [con_id=42] move container to workspace "3: acme \\"hq\\""',
  );
  assert.is(placeWindowCommands(node({}), { name: 'x', pid: null, workspace: null }), '[con_id=42] title_format "[x] %title"');
});

t('quoting keeps quotes and backslashes inside the argument', () => {
  assert.is(quoteForWm('a"b\\c'), '"a\\"b\\\\c"');
  assert.is(workspaceCommand('7'), 'workspace number 7');
  assert.is(workspaceCommand('7: mail; exec rm'), 'workspace "7: mail; exec rm"');
});

t.run();
