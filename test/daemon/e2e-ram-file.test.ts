/**
 * A file-backed guest (`"guestRam": "file"`) end to end: the real daemon on
 * headless sway, real QEMU 7.2 and the real guest. Its RAM is a private file in
 * its state dir; hidden long enough it is saved (the image holds only its device
 * state) and its QEMU ends; focus restores it by mapping the file again and the
 * guest counts on. A RAM file written to while it is on disk is refused with a
 * reason and the VM cold boots on a new, empty RAM file. One boot, two saves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StateChange } from '../../api/client.js';
import { firstTick, printedSince } from '../harness/continuity.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest, realGuestForSuite } from '../harness/fixtures.js';
import { guestQemuArgv, tickCount } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { waitForContent } from '../harness/processes.js';

const t = suite('a file-backed guest hibernated and restored by the daemon');
const guest = realGuestForSuite(t);
const session = desktopPerTest(t, 'sway', 'ramf');
let daemon: RunningDaemon;

const serial = () => path.join(session.sandbox.root, 'family.serial');
const runDir = () => session.runDir('family');
const stateDir = () => session.stateDir('family');
const ramFile = () => path.join(stateDir(), 'guest-ram.bin');

/** A wait set up before the act, that a failed assertion may leave behind: never an unhandled rejection. */
function expecting<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

async function hideUntilHibernated(): Promise<void> {
  const hibernated = expecting(daemon.client.waitForState('family', (c) => c.state === 'hibernated', 30_000));
  await session.wmc.command('workspace 5');
  await hibernated;
}

t('saved without its RAM, restored by mapping it, the guest counting on; a RAM file written to on disk: refused, a cold boot says why', async () => {
  daemon = await session.startDaemon({
    vms: { family: { workspace: '2', qemu: guestQemuArgv(guest, serial()), guestRam: 'file' } },
    policy: { pauseAfterMs: 100, hibernateAfterMs: 400 },
  });
  const changes: StateChange[] = [];
  daemon.client.on('state', (change: StateChange) => change.name === 'family' && changes.push(change));
  const running = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 30_000));
  await session.wmc.command('workspace 2');
  await running;
  await waitForContent(serial(), (text) => tickCount(text) >= 3, 30_000);
  const ram = fs.statSync(ramFile());
  assert.is(ram.mode & 0o777, 0o600, "the guest's RAM is private");
  assert.is(ram.size, 128 * 1024 * 1024);

  await hideUntilHibernated();
  assert.equal(pidsWithArg(runDir()), [], 'no QEMU holds the guest');
  const image = fs.statSync(path.join(stateDir(), 'memory-image.bin'));
  assert.ok(image.size < 4 * 1024 * 1024, `the image is the device state only (${image.size} bytes)`);
  const before = fs.readFileSync(serial(), 'utf8');
  const lastTick = tickCount(before);
  const back = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 30_000));
  await session.wmc.command('workspace 2');
  await back;
  const now = await waitForContent(serial(), (text) => tickCount(printedSince(before, text)) >= lastTick + 2, 15_000);
  assert.is(firstTick(printedSince(before, now)), lastTick + 1, 'the guest counts on: no reboot');
  assert.equal(
    changes.map((c) => c.state),
    ['starting', 'running', 'paused', 'saving', 'hibernated', 'restoring', 'paused', 'running'],
    changes.map((c) => `${c.state}: ${c.reason}`).join('\n'),
  );
  assert.match(changes[6]!.reason, /^restored from its image in \d+\.\d\d s$/);

  // On disk again; its RAM file written to (one byte, the same value) while it is there.
  await hideUntilHibernated();
  const saved = fs.statSync(ramFile());
  const fd = fs.openSync(ramFile(), 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, 8192);
  fs.writeSync(fd, byte, 0, 1, 8192);
  fs.closeSync(fd);
  changes.length = 0;
  const rebooted = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 60_000));
  await session.wmc.command('workspace 2');
  await rebooted;
  // (A refusal before any QEMU starts may come within the same turn as `restoring`, which is then not sent.)
  const states = changes.map((c) => c.state).filter((state) => state !== 'restoring');
  assert.equal(states, ['stopped', 'starting', 'running'], changes.map((c) => `${c.state}: ${c.reason}`).join('\n'));
  assert.match(changes.find((c) => c.state === 'stopped')!.reason, /^could not restore: its RAM file changed since it was saved /);
  assert.match(
    changes.find((c) => c.state === 'starting')!.reason,
    /^cold boot: the restore failed \(its RAM file changed since it was saved \(written to, truncated or chmod'ed: its ctime moved\); the image is kept as memory-image\.unrestorable-\S+\.bin\)$/,
  );
  await waitForContent(serial(), (text) => /GUEST-UP/.test(printedSince(before, text)), 60_000); // a boot
  assert.not.equal(fs.statSync(ramFile()).ino, saved.ino, 'the cold boot has a new RAM file, not the old one');
});

t.run();
