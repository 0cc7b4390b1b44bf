/**
 * An image is tied to its description, end to end, with the real daemon on
 * headless sway, real QEMU 7.2 and the real guest: two VMs hibernate, one's
 * image is moved into the other's place (its own description kept), and the
 * restore refuses it with a reason, sets it aside (shown in the status) and
 * cold boots. The unit side (the seal, an identical copy accepted, a mode
 * mended, images set aside bounded): hibernate-io.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, type Guest } from '../harness/guest.js';
import { waitForContent } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';

const t = suite('an image tied to its description, with the real guest');
let guest: Guest;
let session: DesktopSession;
let daemon: RunningDaemon;

t.before(async () => {
  guest = await ensureGuest();
});
t.before.each(async () => {
  session = await startDesktop('sway', 'seal');
});
t.after.each(async () => {
  await session?.end();
});

/** A wait set up before the act, that a failed assertion may leave behind: never an unhandled rejection. */
function expecting<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

const serial = (name = 'family') => path.join(session.sandbox.root, `${name}.serial`);
const runDir = (name = 'family') => path.join(session.sandbox.runtimeDir, 'hiboss', name);
const stateDir = (name = 'family') => path.join(session.sandbox.stateHome, 'hiboss', name);

async function stateOf(name: string) {
  return (await daemon.client.status()).vms.find((vm) => vm.name === name)!;
}

t("another VM's image put in its place (its own description kept): refused, set aside, a cold boot says why", async () => {
  daemon = await session.startDaemon({
    vms: {
      family: { workspace: '2', qemu: guestQemuArgv(guest, serial()) },
      work: { workspace: '3', qemu: guestQemuArgv(guest, serial('work')) },
    },
    policy: { pauseAfterMs: 100, hibernateAfterMs: 300 },
  });
  // Running is enough: what the images hold does not matter here, only whose they are.
  for (const [name, workspace] of [['work', '3'], ['family', '2']] as const) {
    const running = expecting(daemon.client.waitForState(name, (c) => c.state === 'running', 60_000));
    await session.wmc.command(`workspace ${workspace}`);
    await running;
  }
  // work, hidden since family was shown, may be on disk already: listen first, then look.
  const workSaved = expecting(daemon.client.waitForState('work', (c) => c.state === 'hibernated', 60_000));
  const workAlreadySaved = (await stateOf('work')).state === 'hibernated';
  const familySaved = expecting(daemon.client.waitForState('family', (c) => c.state === 'hibernated', 60_000));
  await session.wmc.command('workspace 5');
  await familySaved;
  if (!workAlreadySaved) await workSaved;
  // Both guests are the same kernel and initrd: their images begin alike.
  fs.renameSync(path.join(stateDir('work'), 'memory-image.bin'), path.join(stateDir(), 'memory-image.bin'));
  const starting = expecting(daemon.client.waitForState('family', (c) => c.state === 'starting', 60_000));
  const running = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 60_000));
  await session.wmc.command('workspace 2');
  // Refused by its size, or (the same size) by its hash.
  const { reason } = await starting;
  assert.match(
    reason,
    /^cold boot: the restore failed \(its image is not the (file its save wrote \(\d+ bytes; the save wrote \d+\)|one its save wrote \(the file changed or was replaced since: its SHA-256 differs\)); the image is kept as memory-image\.unrestorable-\S+\.bin\)$/,
    reason,
  );
  await running;
  assert.not.match(fs.readFileSync(path.join(runDir(), 'qemu.log'), 'utf8'), /incoming defer/, "no QEMU was started from the other VM's image");
  await waitForContent(serial(), (text) => /GUEST-UP/.test(text), 60_000); // a boot
  assert.ok(fs.readdirSync(stateDir()).some((f) => /^memory-image\.unrestorable-\S+\.bin$/.test(f)), 'kept aside, not deleted');
  const [aside] = (await stateOf('family')).asideImages!;
  assert.match(aside!.file, /^memory-image\.unrestorable-\d{8}T\d{6}Z\.bin$/, 'and shown');
  assert.ok(aside!.bytes > 0);
});

t.run();
