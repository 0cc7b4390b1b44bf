/**
 * Keys without processes: a real key press (wtype) in real sway reaches the daemon
 * as a `binding` event for `nop hiboss toggle`, and the daemon pauses/resumes the
 * focused workspace's VM — sway spawns nothing for it.
 */
import fs from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { WmClient } from '../../wm-ipc/client.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { BARE_QEMU } from '../harness/qemu.js';
import type { RunningWm } from '../harness/wm.js';
import { keybindingSnippet } from '../../cli/verbs/wm-config.js';

const t = suite('keys through sway binding events');
let wm: RunningWm;
let daemon: RunningDaemon;
let wmc: WmClient;

/** Every process below `pid`, from /proc's children lists. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    for (const task of safeList(`/proc/${p}/task`)) {
      const children = fs.readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ').map(Number) : []) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}
function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

let session: DesktopSession;
t.before.each(async () => {
  session = await startDesktop('sway', 'keys', { config: ['set $mod Mod4', ...keybindingSnippet().split('\n')] });
  ({ wm, wmc } = session);
});
t.after.each(() => session?.end());

t('Super+p toggles the focused VM: paused (held), then running again; no process spawned', async () => {
  daemon = await session.startDaemon({ vms: { family: { workspace: '1', qemu: BARE_QEMU } } });
  await wmc.command('workspace 1');
  await daemon.client.untilState('family', (c) => c.state === 'running', 15_000);
  const before = descendants(wm.process.pid);
  const daemonChildren = descendants(daemon.process.pid);

  const paused = daemon.client.waitForState('family', (c) => c.state === 'paused', 10_000);
  await execa('wtype', ['-M', 'logo', 'p', '-m', 'logo'], { env: wm.env, extendEnv: false });
  assert.is((await paused).reason, 'paused by the user');
  assert.is((await daemon.client.status()).vms[0]!.heldByUser, true);
  await daemon.waitForLog(/key p: family: toggle/);

  const resumed = daemon.client.waitForState('family', (c) => c.state === 'running', 10_000);
  await execa('wtype', ['-M', 'logo', 'p', '-m', 'logo'], { env: wm.env, extendEnv: false });
  await resumed;
  assert.is((await daemon.client.status()).vms[0]!.heldByUser, false);

  // sway ran no command for the keys, and the daemon started nothing new.
  assert.equal(descendants(wm.process.pid), before);
  assert.equal(descendants(daemon.process.pid), daemonChildren);
});

t.run();
