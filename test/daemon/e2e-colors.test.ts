/**
 * A colour per network, on real windows: two VMs (family green, acme red), each a
 * real QEMU gtk window, shown side by side on two outputs — headless sway with a
 * second output, i3 under Xvfb with fake outputs. The proof is in the pixels:
 * each window's title bar carries its own network's colour and not the other's
 * (sway 1.7's tree reports raw titles, so the label can only be proven rendered);
 * on sway the focused window's frame takes the focused network's colour.
 *
 * HIBOSS_SCREENSHOT_DIR=DIR keeps colors-sway.png and colors-i3.png there (docs/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, type Guest } from '../harness/guest.js';
import { capture, gtkEnv, laidOutTitleBar, screenshot, viewsOf, waitForTree, withGtkDisplay, findNode, type Rect } from '../harness/gui.js';
import { pidsWithArg } from '../harness/inspect.js';
import { countColor, readPpm, readXvfbScreen, writePng, type Image } from '../harness/pixels.js';
import { start, track, type Started } from '../harness/processes.js';
import { BARE_QEMU } from '../harness/qemu.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { bound } from '../harness/bounds.js';
import type { Node } from '../../wm-ipc/protocol.js';

const WAIT_MS = 20_000;
const GREEN = '#2e7d32';
const RED = '#c62828';
const COLORS = { family: GREEN, acme: RED } as const;
type Name = keyof typeof COLORS;
/** A label "[family]" in 10 px text on its colour is hundreds of pixels; 100 is far above noise. */
const LABEL_PIXELS = 100;
/** The user's own client.focused in the sway config: what a workspace without a VM shows again. */
const USER_FOCUSED = ['#111111', '#222222', '#ffffff', '#333333', '#444444'] as const;

for (const kind of (process.env.HIBOSS_ONLY_WM ? [process.env.HIBOSS_ONLY_WM] : ['sway', 'i3']) as ('sway' | 'i3')[]) {
  const t = suite(`network colours on real ${kind} windows`);
  const test = bounded(t, 90_000);
  let guest: Guest;
  let session: DesktopSession;
  let daemon: RunningDaemon;
  let fbdir: string;
  let stranger: Started | undefined;
  const second = kind === 'sway' ? 'HEADLESS-2' : 'fake-1';

  /** The whole screen as pixels: grim (sway), the Xvfb framebuffer (i3). */
  const grab = async (): Promise<Image> => {
    if (kind === 'i3') return readXvfbScreen(fbdir);
    const outputs = await session.wmc.getOutputs();
    const width = Math.max(...outputs.map((o) => o.rect.x + o.rect.width));
    const height = Math.max(...outputs.map((o) => o.rect.y + o.rect.height));
    return readPpm(await capture(session.wm, { x: 0, y: 0, width, height }));
  };

  /** The title bar of a VM's window, in screen coordinates. */
  const titleBar = async (id: number): Promise<Rect> => {
    if (kind === 'sway') return laidOutTitleBar(session.wmc, session.wm, id, 5_000);
    const tree = await session.wmc.getTree();
    const node = findNode(tree, id)!;
    const deco = node.deco_rect as Rect;
    const rect = node.rect as Rect;
    // i3: a container's rect includes its title bar, at its top (one window per workspace here).
    return { x: rect.x, y: rect.y, width: deco.width, height: deco.height };
  };

  /** The VM's window once the daemon has placed it (on i3 a title_format alone sends no event: look after the log says so). */
  const windowOf = async (name: Name) => {
    await daemon.waitForLog(new RegExp(`${name}: window \\d+ placed`), WAIT_MS);
    return waitForTree(
      session.wmc,
      (tree) => {
        const pid = pidsWithArg(path.join(session.sandbox.runtimeDir, 'hiboss', name))[0];
        return viewsOf(tree).find((v) =>
          (kind === 'sway' ? v.node.pid === pid : (v.node.window_properties?.title ?? '').startsWith(`QEMU (${name})`)) &&
          (kind === 'sway' || String(v.node.title_format ?? '').includes(COLORS[name])),
        );
      },
      WAIT_MS,
      `${name}'s window, labelled`,
    );
  };

  /** Waits (bounded) until the screen shows what `check` wants: X and sway draw on their own time. */
  async function screenUntil(check: (image: Image) => string | null, what: string): Promise<Image> {
    const deadline = Date.now() + bound(10_000);
    for (;;) {
      const image = await grab();
      const problem = check(image);
      if (problem === null) return image;
      if (Date.now() > deadline) {
        const keep = path.join(session.sandbox.root, '..', `colors-${kind}-failed.png`);
        writePng(image, keep, 2); // to look at what was on the screen
        throw new Error(`${what}: ${problem} (screen kept in ${keep})`);
      }
      if (kind === 'i3') await new Promise((resolve) => setTimeout(resolve, 50)); // grim waits for a frame itself
    }
  }

  t.before(async () => {
    guest = await ensureGuest();
    // Both WMs render markup in titles only with a Pango font (the i3 harness has one already).
    session = await startDesktop(kind, `colors-${kind}`, {
      ...(kind === 'i3' ? { xvfbScreen: '2048x768x24', config: ['fake-outputs 1024x768+0+0,1024x768+1024+0'] } : { config: ['font pango:monospace 10', `client.focused ${USER_FOCUSED.join(' ')}`] }),
      ...(kind === 'i3' ? { fbdir: (fbdir = fs.mkdtempSync('/tmp/fb-')) } : {}),
    });
    await session.wmc.subscribe(['window', 'workspace']);
    if (kind === 'sway') {
      await session.wmc.command('create_output');
      // sway places a new output at the right and may move the first: both placed explicitly.
      await session.wmc.command(`output HEADLESS-1 position 0 0; output ${second} resolution 1280x720 position 1280 0`);
    }
    const vm = (name: string) => withGtkDisplay(guestQemuArgv(guest, path.join(session.sandbox.root, `${name}.serial`)));
    daemon = await session.startDaemon(
      {
        // Workspaces 1 and 2 exist from the start (one per output): the VMs get new ones, one per output.
        vms: { family: { workspace: '4', qemu: vm('family'), color: GREEN }, acme: { workspace: '5', qemu: vm('acme'), color: RED } },
        policy: { pauseAfterMs: 600_000 },
      },
      { env: gtkEnv(session.wm) },
    );
  });
  t.after(async () => {
    await stranger?.stop();
    await session?.end();
    if (fbdir) fs.rmSync(fbdir, { recursive: true, force: true });
  });

  test('two networks side by side: each title bar shows its own colour, not the other\'s', async () => {
    const first = kind === 'sway' ? 'HEADLESS-1' : 'fake-0';
    await session.wmc.command(`focus output ${first}; workspace number 4`);
    const family = await windowOf('family');
    await session.wmc.command(`focus output ${second}; workspace number 5`);
    const acme = await windowOf('acme');
    for (const name of ['family', 'acme'] as const) track(pidsWithArg(path.join(session.sandbox.runtimeDir, 'hiboss', name))[0]!);
    assert.is(family.workspace, '4');
    assert.is(acme.workspace, '5');
    if (kind === 'i3') {
      assert.is(family.node.title_format, `<span background='${GREEN}' foreground='#ffffff'>[family]</span> %title`);
    }
    const bars = { family: await titleBar(family.node.id), acme: await titleBar(acme.node.id) };
    if (process.env.HIBOSS_TEST_DEBUG) console.log(JSON.stringify(bars));
    assert.ok(bars.acme.x >= 1024, 'acme is on the second output');
    const image = await screenUntil((img) => {
      for (const name of ['family', 'acme'] as const) {
        const own = countColor(img, COLORS[name], bars[name]);
        const other = countColor(img, COLORS[name === 'family' ? 'acme' : 'family'], bars[name]);
        if (own < LABEL_PIXELS) return `${name}'s title bar has ${own} pixels of ${COLORS[name]}`;
        if (other > 0) return `${name}'s title bar has ${other} pixels of the other network's colour`;
      }
      return null;
    }, 'both labels drawn in their colours');
    if (process.env.HIBOSS_SCREENSHOT_DIR) {
      const file = path.join(process.env.HIBOSS_SCREENSHOT_DIR, `colors-${kind}.png`);
      if (kind === 'sway') await screenshot(session.wm, file, 0.5);
      else writePng(image, file);
    }
  });

  if (kind === 'sway') {
    test('sway: the focused window\'s frame takes the focused network\'s colour, and follows the focus', async () => {
      const tree = await session.wmc.getTree();
      const family = viewsOf(tree).find((v) => v.workspace === '4')!;
      const acme = viewsOf(tree).find((v) => v.workspace === '5')!;
      const frame = (view: { node: Node }) => view.node.rect as Rect;
      // acme (workspace 3) is focused: its frame is red, family's is not green.
      await screenUntil((img) => {
        const red = countColor(img, RED, frame(acme));
        const green = countColor(img, GREEN, frame(family));
        if (red < 1000) return `acme's frame has ${red} red pixels`;
        if (green > 0) return `family (unfocused) has ${green} green pixels outside its title bar`;
        return null;
      }, 'acme\'s frame red');
      await session.wmc.command('focus output HEADLESS-1');
      await screenUntil((img) => {
        const red = countColor(img, RED, frame(acme));
        const green = countColor(img, GREEN, frame(family));
        if (green < 1000) return `family's frame has ${green} green pixels`;
        if (red > 0) return `acme (unfocused) still has ${red} red pixels in its frame`;
        return null;
      }, 'the frame colour followed the focus to family');
      // A window on a workspace without a VM (a QEMU hiboss does not manage): the user's own colours.
      await session.wmc.command('workspace number 6');
      const [file, ...args] = withGtkDisplay(BARE_QEMU);
      stranger = start(file!, [...args, '-name', 'stranger'], { env: { ...session.wm.env, ...gtkEnv(session.wm) }, extendEnv: false, stdout: 'ignore', stderr: 'ignore' });
      const other = await waitForTree(
        session.wmc,
        (tree) => viewsOf(tree).find((v) => v.workspace === '6' && (v.node.name ?? '').startsWith('QEMU (stranger)')),
        WAIT_MS,
        'the stranger window on workspace 6',
      );
      const bar = await titleBar(other.node.id);
      await screenUntil((img) => {
        const own = countColor(img, USER_FOCUSED[1], bar);
        const vmColors = countColor(img, GREEN, bar) + countColor(img, RED, bar);
        if (own < bar.width * 10) return `the title bar has ${own} pixels of the user's ${USER_FOCUSED[1]}`;
        if (vmColors > 0) return `the title bar has ${vmColors} pixels of a network's colour`;
        return null;
      }, 'the user\'s client.focused back on a workspace without a VM');
      await stranger.stop();
      stranger = undefined;
    });
  }

  test('a colour changed in config.json relabels the windows already placed', async () => {
    const config = JSON.parse(fs.readFileSync(daemon.configPath, 'utf8'));
    config.vms.acme.color = '#1565c0';
    fs.writeFileSync(daemon.configPath, JSON.stringify(config));
    const acme = viewsOf(await session.wmc.getTree()).find((v) => v.workspace === '5')!;
    const bar = await titleBar(acme.node.id);
    await screenUntil((img) => {
      const blue = countColor(img, '#1565c0', bar);
      const red = countColor(img, RED, bar);
      if (blue < LABEL_PIXELS) return `acme's title bar has ${blue} blue pixels`;
      if (red > 0) return `acme's title bar still has ${red} red pixels`;
      return null;
    }, 'acme relabelled blue');
  });

  t.run();
}
