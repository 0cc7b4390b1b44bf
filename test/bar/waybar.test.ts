/**
 * Real waybar inside headless sway, running the shipped module fragment and
 * style.css with `exec` pointing at this checkout's bin/hiboss. Screenshots
 * (grim, PPM) prove the module is drawn, in the state's colour, with text in it,
 * and that it follows the daemon (fake service here; test/bar/e2e-daemon uses
 * the real one).
 *
 * Set HIBOSS_BAR_SCREENSHOT=FILE.png to keep a PNG of the bar for the README.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { start, track, type Started } from '../harness/processes.js';
import { startSway, type RunningWm } from '../harness/wm.js';
import { daemonStatus, startFakeDaemon, vmFixture as vm, type FakeDaemon } from '../harness/fake-daemon.js';
import { BAR_HEIGHT, countColour, descendants, findBox, hex, stripJsonComments, waitForScreen, writeWaybarFiles } from './waybar-util.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HIBOSS = path.join(REPO, 'bin/hiboss');

const t = suite('real waybar');
let sandbox: Sandbox;
let bus: RunningBus;
let wm: RunningWm;
let daemon: FakeDaemon | undefined;
const procs: Started[] = [];

t.before.each(async () => {
  sandbox = makeSandbox('waybar');
  bus = await startSessionBus(sandbox.env);
  wm = await startSway(sandbox);
});
t.after.each(async () => {
  for (const p of procs.splice(0)) await stopWaybar(p);
  daemon?.stop();
  daemon = undefined;
  await wm?.stop();
  bus?.stop();
  sandbox?.remove();
});

function env(): NodeJS.ProcessEnv {
  // No accessibility bus: GTK would start at-spi daemons through our bus, outside any pid we track.
  return { ...wm.env, DBUS_SESSION_BUS_ADDRESS: bus.address, NO_AT_BRIDGE: '1', GTK_A11Y: 'none' };
}

function startWaybar(withModule: boolean): Started {
  const { config, style } = writeWaybarFiles(sandbox.root, REPO, HIBOSS, withModule ? ['custom/hiboss'] : [], withModule ? 'with' : 'without');
  const log = path.join(sandbox.root, `waybar-${withModule ? 'with' : 'without'}.log`);
  // A file descriptor, not {file}: execa would pipe {file} through us, and the module (which
  // inherits waybar's stderr) would hold that pipe open after waybar is gone.
  // (execa's types only list fds 3–9 here; node's spawn takes any.)
  const fd = fs.openSync(log, 'a') as 3;
  const proc = start('waybar', ['-c', config, '-s', style], { env: env(), extendEnv: false, stdout: fd, stderr: fd });
  fs.closeSync(fd);
  procs.push(proc);
  return proc;
}

/**
 * Ends waybar the way a session does (SIGINT: waybar then ends its modules; on
 * SIGTERM it dies without doing so). Whatever it started is tracked first, so
 * nothing outlives the test even if waybar does not clean up.
 */
async function stopWaybar(proc: Started): Promise<void> {
  for (const pid of descendants(proc.pid)) track(pid);
  try {
    process.kill(proc.pid, 'SIGINT');
  } catch {
    /* gone */
  }
  await Promise.race([proc.exited, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
  await proc.stop();
}

const RUNNING = hex('#a6e3a1');
const FAILED = hex('#f38ba8');
const DOWN = hex('#fab387');
const BAR_BG = hex('#000000');

t('the shipped fragment parses and points at hiboss', () => {
  const fragment = JSON.parse(stripJsonComments(fs.readFileSync(path.join(REPO, 'bar-module/waybar-module.jsonc'), 'utf8')));
  const module = fragment['custom/hiboss'];
  assert.is(module['return-type'], 'json');
  assert.is(module.interval, undefined);
  assert.is(module.exec, 'hiboss bar');
  assert.is(module['on-click'], 'hiboss toggle');
  assert.is(module['on-scroll-up'], 'hiboss next');
  assert.is(module['on-scroll-down'], 'hiboss prev');
  assert.match(module['on-click-right'], /-e hiboss panel$/);
});

t('the module is drawn in its state colour with text, and follows the daemon', async () => {
  // Baseline: the same bar without the module has none of the state colours.
  const without = startWaybar(false);
  const empty = await waitForScreen(env(), (img) => countColour(img, BAR_BG, BAR_HEIGHT) > 1000, 'the bar without the module');
  for (const colour of [RUNNING, FAILED, DOWN]) assert.is(countColour(empty, colour, BAR_HEIGHT), 0);
  procs.splice(procs.indexOf(without), 1);
  await stopWaybar(without);

  daemon = await startFakeDaemon(bus.address, daemonStatus([vm('web', { state: 'running', workspace: '1' })], 'web', '1'));
  startWaybar(true);
  const running = await waitForScreen(env(), (img) => countColour(img, RUNNING, BAR_HEIGHT) > 200, 'the green (running) module');
  const box = findBox(running, RUNNING, BAR_HEIGHT)!;
  // Text inside the pill: pixels that are neither the pill's colour nor the bar's.
  let text = 0;
  for (let y = box.top; y <= box.bottom; y++) {
    for (let x = box.left; x <= box.right; x++) {
      const i = (y * running.width + x) * 3;
      const px = (running.data[i]! << 16) | (running.data[i + 1]! << 8) | running.data[i + 2]!;
      if (px !== RUNNING && px !== BAR_BG) text++;
    }
  }
  assert.ok(text > 50, `only ${text} text pixels in the module ${JSON.stringify(box)}`);
  assert.ok(box.right - box.left > 30, `module too narrow: ${JSON.stringify(box)}`);
  if (process.env.HIBOSS_BAR_SCREENSHOT) {
    await start('grim', ['-g', `0,0 ${Math.min(running.width, box.right + 200)}x${BAR_HEIGHT}`, process.env.HIBOSS_BAR_SCREENSHOT], { env: env(), extendEnv: false }).exited;
  }

  daemon.setState('web', 'failed', 'QEMU exited with code 1');
  const failed = await waitForScreen(env(), (img) => countColour(img, FAILED, BAR_HEIGHT) > 200 && countColour(img, RUNNING, BAR_HEIGHT) === 0, 'the red (failed) module');
  assert.ok(findBox(failed, FAILED, BAR_HEIGHT)!.left === box.left);

  daemon.stop();
  daemon = undefined;
  await waitForScreen(env(), (img) => countColour(img, DOWN, BAR_HEIGHT) > 200, 'the orange (daemon down) module');
});

t.run();
