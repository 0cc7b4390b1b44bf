/**
 * VM windows placed for real: the real guest in QEMU with a gtk window — a
 * Wayland client of headless sway, an X11 client of i3's Xvfb — and the real
 * daemon moving each VM window to its VM's workspace and labelling it.
 *
 * sway 1.7's GET_TREE reports a window's raw title, not its title_format: there
 * the label is proven on the rendered title bar's pixels. i3's tree carries
 * title_format.
 *
 * HIBOSS_SCREENSHOT=FILE keeps a PNG of the sway desktop with a placed window.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BARE_QEMU } from '../harness/qemu.js';
import { bounded } from '../harness/bounded.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, type Guest } from '../harness/guest.js';
import { capture, gtkEnv, laidOutTitleBar, screenshot, viewsOf, waitForTree, withGtkDisplay, type View } from '../harness/gui.js';
import { pidsWithArg } from '../harness/inspect.js';
import { start, track, type Started } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import type { StateChange } from '../../api/client.js';
import type { Node } from '../../wm-ipc/protocol.js';

const WAIT_MS = 15_000;

for (const kind of ['sway', 'i3'] as const) {
  const t = suite(`VM windows placed on real ${kind}`);
  const test = bounded(t, 30_000);
  let guest: Guest;
  let session: DesktopSession;
  let daemon: RunningDaemon;
  let stranger: Started | undefined;

  const qemuPids = (name: string) => pidsWithArg(path.join(session.sandbox.runtimeDir, 'hiboss', name));
  const focusedWorkspace = async () => (await session.wmc.getWorkspaces()).find((w) => w.focused)?.name;
  /** The VM's window: by pid on sway (Wayland clients have one), by QEMU's title on i3. */
  const isWindowOf = (view: View, name: string, pid: number) =>
    kind === 'sway' ? view.node.pid === pid : (view.node.window_properties?.title ?? '').startsWith(`QEMU (${name})`);
  /** Resolves once VM `name` is in `state` — already, or by a change to come (listening first: no gap). */
  const inState = (name: string, state: string) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        daemon.client.off('state', listener);
        if (error) reject(error);
        else resolve();
      };
      const listener = (change: StateChange) => {
        if (change.name === name && change.state === state) done();
      };
      // Our own timer, cleared either way: a pending one would keep the file running.
      const timer = setTimeout(() => done(new Error(`${name} never became ${state}`)), WAIT_MS);
      daemon.client.on('state', listener);
      daemon.client.status().then(
        (status) => status.vms.some((vm) => vm.name === name && vm.state === state) && done(),
        (error: Error) => done(error),
      );
    });
  const labelled = (view: View, name: string) => kind === 'sway' || view.node.title_format === `[${name}] %title`;
  /** Resolves with the VM's window once it sits, labelled, on `workspace`. */
  const placedWindow = (name: string, pid: number, workspace: string, notId?: number) =>
    waitForTree(
      session.wmc,
      (tree) =>
        viewsOf(tree).find((v) => isWindowOf(v, name, pid) && v.node.id !== notId && v.workspace === workspace && labelled(v, name)),
      WAIT_MS,
      `${name}'s window (pid ${pid}) on workspace ${workspace}, labelled`,
    );

  t.before(async () => {
    guest = await ensureGuest();
    session = await startDesktop(kind, `windows-${kind}`);
    await session.wmc.subscribe(['window', 'workspace']);
    const vm = (name: string) => withGtkDisplay(guestQemuArgv(guest, path.join(session.sandbox.root, `${name}.serial`)));
    daemon = await session.startDaemon(
      {
        vms: { family: { workspace: '2', qemu: vm('family') }, acme: { workspace: '3', qemu: vm('acme') } },
        policy: { pauseAfterMs: 300, restartDelayMs: 200 },
      },
      { env: gtkEnv(session.wm) },
    );
  });
  // Each test starts from workspace 1, whatever the one before left focused.
  t.before.each(async () => {
    await session.wmc.command('workspace number 1');
  });
  t.after(async () => {
    await stranger?.stop();
    await session?.end();
  });

  /** The start's reply says it was asked; its QEMU is there once the VM is up (running, or already paused while hidden). */
  const qemuUp = (name: string) => daemon.client.untilState(name, (c) => c.state === 'running' || c.state === 'paused', 60_000);

  test('a VM started while another workspace is focused: its window moves to the VM\'s workspace, labelled', async () => {
    assert.is(await focusedWorkspace(), '1');
    const opened: Node[] = [];
    const onWindow = (event: { change: string; container: Node }) => {
      if (event.change === 'new') opened.push(event.container);
    };
    session.wmc.on('window', onWindow);
    await daemon.client.start('family');
    await qemuUp('family');
    const [pid] = qemuPids('family');
    assert.ok(pid, 'family\'s QEMU runs');
    track(pid!);
    const view = await placedWindow('family', pid!, '2');
    session.wmc.off('window', onWindow);
    assert.ok(opened.some((c) => c.id === view.node.id), 'the window was new while workspace 1 was focused');
    assert.match(view.node.name ?? '', /^QEMU \(family\)/);
    assert.is(await focusedWorkspace(), '1', 'placing a window must not take the user along');
    await daemon.waitForLog(new RegExp(`family: window ${view.node.id} placed on workspace 2`));
  });

  /**
   * sway: the label as rendered. The bar as placed must equal, pixel for pixel, the
   * same bar re-rendered with the known format "[NAME] %title", and differ from the
   * raw title and from another name's label. The window's workspace must be shown,
   * and its raw title steady (`rawTitle`) while we look.
   */
  const assertLabelRendered = async (name: string, workspace: string, rawTitle: string, keepScreenshot = false) => {
    const view = await waitForTree(
      session.wmc,
      (tree) => viewsOf(tree).find((v) => v.workspace === workspace && v.node.name === rawTitle),
      WAIT_MS,
      `${name}'s window titled "${rawTitle}" on workspace ${workspace}`,
    );
    const bar = await laidOutTitleBar(session.wmc, session.wm, view.node.id, 5_000);
    const target = `[con_id=${view.node.id}]`;
    const asPlaced = await capture(session.wm, bar);
    if (keepScreenshot && process.env.HIBOSS_SCREENSHOT) await screenshot(session.wm, process.env.HIBOSS_SCREENSHOT);
    await session.wmc.command(`${target} title_format "%title"`);
    const raw = await capture(session.wm, bar);
    await session.wmc.command(`${target} title_format "[other] %title"`);
    const wrong = await capture(session.wm, bar);
    await session.wmc.command(`${target} title_format "[${name}] %title"`);
    const known = await capture(session.wm, bar);
    assert.ok(!asPlaced.equals(raw), 'the placed bar differs from the raw title');
    assert.ok(!asPlaced.equals(wrong), 'the placed bar differs from another name\'s label');
    assert.ok(asPlaced.equals(known), `the placed bar is pixel for pixel "[${name}] ${rawTitle}"`);
  };

  if (kind === 'sway') {
    test('the title bar shows the label: its pixels are those of "[family] %title", not of the raw title', async () => {
      await session.wmc.command('workspace number 2');
      await inState('family', 'running'); // running and focused: the title is plain "QEMU (family)"
      await assertLabelRendered('family', '2', 'QEMU (family)', true);
    });
  }

  test('a window that opens while its workspace is hidden lands there; another QEMU\'s window is left alone', async () => {
    // Workspace 3 exists but is hidden: it holds a QEMU window hiboss does not manage, moved
    // there from workspace 1 (focusing workspace 3 would boot acme: focus starts a VM).
    const [file, ...args] = withGtkDisplay(BARE_QEMU);
    stranger = start(file!, [...args, '-name', 'stranger'], {
      env: { ...session.wm.env, ...gtkEnv(session.wm) },
      extendEnv: false,
      stdout: 'ignore',
      stderr: 'ignore',
    });
    const strangerOn = (workspace: string) => (tree: Node) =>
      viewsOf(tree).find(
        (v) => v.workspace === workspace && (v.node.window_properties?.title ?? v.node.name ?? '').startsWith('QEMU (stranger)'),
      );
    const opened = await waitForTree(session.wmc, strangerOn('1'), WAIT_MS, 'the stranger QEMU\'s window on workspace 1');
    await session.wmc.command(`[con_id=${opened.node.id}] move container to workspace number 3`);
    await waitForTree(session.wmc, strangerOn('3'), WAIT_MS, 'the stranger QEMU\'s window on workspace 3');
    assert.is(await focusedWorkspace(), '1');

    await daemon.client.start('acme');
    await qemuUp('acme');
    const [pid] = qemuPids('acme');
    assert.ok(pid, 'acme\'s QEMU runs');
    track(pid!);
    await placedWindow('acme', pid!, '3');
    assert.is(await focusedWorkspace(), '1');
    const tree = await session.wmc.getTree();
    const other = strangerOn('3')(tree);
    assert.ok(other, 'the stranger stays on workspace 3');
    if (kind === 'i3') assert.not.ok(other!.node.title_format, 'the stranger is not labelled');
    await stranger.stop();
    stranger = undefined;
  });

  test('QEMU\'s own title changes ("[Paused]" while hidden) keep the window placed and labelled', async () => {
    // The policy pauses a hidden VM; ask for it too, so the test does not depend on its timing.
    const paused = inState('acme', 'paused');
    paused.catch(() => {}); // awaited below, unless pause() fails first
    await daemon.client.pause('acme');
    await paused;
    const [pid] = qemuPids('acme');
    const view = await waitForTree(
      session.wmc,
      (tree) => viewsOf(tree).find((v) => isWindowOf(v, 'acme', pid!) && / \[Paused\]$/.test(v.node.name ?? '')),
      WAIT_MS,
      'acme\'s window titled "… [Paused]"',
    );
    assert.is(view.workspace, '3');
    assert.ok(labelled(view, 'acme'));
    if (kind === 'sway') {
      // Paused by the user, it stays paused when shown: the title holds still.
      await session.wmc.command('workspace number 3');
      await assertLabelRendered('acme', '3', 'QEMU (acme) [Paused]');
    }
  });

  // The policy restarts a failed VM whose workspace is hidden only once it is focused; the
  // user's `start` restarts it at once, so its new window opens while workspace 2 is hidden.
  test('a restarted VM (killed -9, started again: a new pid) has its new window placed again', async () => {
    assert.is(await focusedWorkspace(), '1');
    const [oldPid] = qemuPids('family');
    const oldWindow = viewsOf(await session.wmc.getTree()).find((v) => v.workspace === '2')!;
    assert.ok(oldWindow, 'family\'s first window is on workspace 2');
    const failed = daemon.client.waitForState('family', (c) => c.state === 'failed', WAIT_MS);
    process.kill(oldPid!, 'SIGKILL');
    await failed;
    const running = daemon.client.waitForState('family', (c) => c.state === 'running', WAIT_MS);
    await daemon.client.start('family');
    await running;
    const [newPid] = qemuPids('family');
    assert.ok(newPid && newPid !== oldPid, `a new QEMU (${newPid} after ${oldPid})`);
    track(newPid!);
    const view = await placedWindow('family', newPid!, '2', oldWindow.node.id);
    assert.is.not(view.node.id, oldWindow.node.id, 'a new window, placed again');
    assert.is(await focusedWorkspace(), '1');
    if (kind === 'sway') {
      await session.wmc.command('workspace number 2');
      await inState('family', 'running');
      await assertLabelRendered('family', '2', 'QEMU (family)');
    }
  });

  t.run();
}
