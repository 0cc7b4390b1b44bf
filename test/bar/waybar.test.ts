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
import { REPO } from '../harness/daemon.js';
import { start } from '../harness/processes.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';
import { BAR_HEIGHT, countColour, findBox, hex, stripJsonComments, waitForScreen, waybarDesktopPerTest } from './waybar-util.js';

const t = suite('real waybar');
const desktop = waybarDesktopPerTest(t, 'waybar');
const env = desktop.env;

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
  const without = desktop.startWaybar([], 'without');
  const empty = await waitForScreen(env(), (img) => countColour(img, BAR_BG, BAR_HEIGHT) > 1000, 'the bar without the module');
  for (const colour of [RUNNING, FAILED, DOWN]) assert.is(countColour(empty, colour, BAR_HEIGHT), 0);
  await desktop.stopWaybar(without);

  const daemon = await desktop.startFakeDaemon(daemonStatus([vm('web', { state: 'running', workspace: '1' })], 'web', '1'));
  desktop.startWaybar(['custom/hiboss'], 'with');
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
  await waitForScreen(env(), (img) => countColour(img, DOWN, BAR_HEIGHT) > 200, 'the orange (daemon down) module');
});

t.run();
