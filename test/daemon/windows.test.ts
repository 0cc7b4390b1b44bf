import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isQemuTitleOf, placeWindowCommands, quoteForWm, vmOfWindow, windowToPlace, workspaceCommand } from '../../daemon/windows.js';
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

t('real QEMU 7.2 gtk titles match; look-alikes do not', () => {
  for (const title of [
    'QEMU (family)',
    'QEMU (family) [Paused]',
    'QEMU (family) - Press Ctrl+Alt+G to release grab',
    'QEMU (family) [Paused] - Press Ctrl+Alt+G to release grab',
    'QEMU (family): VGA',
  ]) {
    assert.ok(isQemuTitleOf(title, 'family'), title);
  }
  assert.not.ok(isQemuTitleOf('QEMU (familyx)', 'family'));
  assert.not.ok(isQemuTitleOf('QEMU (fam)', 'family'));
  assert.not.ok(isQemuTitleOf('notes on QEMU (family) - vim', 'family'));
  // i3: an X11 window of another program with a QEMU-like title is not a VM's.
  const x11 = (title: string, cls: string) => node({ window_properties: { title, class: cls, instance: cls.toLowerCase() } });
  assert.is(vmOfWindow(x11('QEMU (family)', 'Qemu-system-x86_64'), vms)?.name, 'family');
  assert.is(vmOfWindow(x11('QEMU (family)', 'URxvt'), vms), undefined);
});

t('a window is placed once: on new, or on the first title event that makes it a VM\'s', () => {
  const untitled = node({ id: 7, window_properties: { title: null, class: 'Qemu-system-x86_64' } });
  const titled = node({ id: 7, window_properties: { title: 'QEMU (acme)', class: 'Qemu-system-x86_64' } });
  const paused = node({ id: 7, window_properties: { title: 'QEMU (acme) [Paused]', class: 'Qemu-system-x86_64' } });
  const placed = new Set<number>();
  assert.is(windowToPlace('new', untitled, vms, placed), undefined);
  assert.is(windowToPlace('title', titled, vms, placed)?.name, 'acme');
  placed.add(7);
  assert.is(windowToPlace('title', paused, vms, placed), undefined, 'placed already: the user may have moved it');
  assert.is(windowToPlace('new', titled, vms, new Set())?.name, 'acme');
  assert.is(windowToPlace('focus', titled, vms, new Set()), undefined);
  assert.is(windowToPlace('move', titled, vms, new Set()), undefined);
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
