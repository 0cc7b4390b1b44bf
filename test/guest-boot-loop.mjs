#!/usr/bin/env node
// A QEMU-heavy load for test/under-load.mjs: boots the real test guest (the harness's
// cached kernel + busybox initrd) until its serial console says GUEST-UP, lets it tick
// a moment, ends it, and boots it again — until SIGTERM. Prints "N guest boots" at
// the end. Its QEMU runs in this process's group: `kill -- -PID` ends both.
//
//   node test/guest-boot-loop.mjs   (build first: it uses dist/test/harness/guest.js)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { ensureGuest, guestQemuArgv, tickCount } = await import(path.join(repo, 'dist', 'test', 'harness', 'guest.js'));
const guest = await ensureGuest();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bootloop-'));
let boots = 0;
let qemu;
const finish = () => {
  qemu?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`${boots} guest boots`);
  process.exit(0);
};
process.on('SIGTERM', finish);
process.on('SIGINT', finish);

/** Resolves once the serial log shows a few ticks (watched, not polled); rejects if QEMU exits first. */
function untilTicking(serial, child) {
  return new Promise((resolve, reject) => {
    const watcher = fs.watch(dir);
    const check = () => {
      let text = '';
      try {
        text = fs.readFileSync(serial, 'utf8');
      } catch {}
      if (/GUEST-UP/.test(text) && tickCount(text) >= 3) done();
    };
    const done = (error) => {
      watcher.close();
      child.off('exit', exited);
      error ? reject(error) : resolve();
    };
    const exited = (code) => done(new Error(`the guest's QEMU exited (${code}) before it ticked`));
    watcher.on('change', check);
    child.on('exit', exited);
    check();
  });
}

for (;;) {
  const serial = path.join(dir, `serial-${boots}.log`);
  const [file, ...args] = guestQemuArgv(guest, serial);
  qemu = spawn(file, args, { stdio: 'ignore' });
  await untilTicking(serial, qemu);
  boots += 1;
  const gone = new Promise((resolve) => qemu.once('exit', resolve));
  qemu.kill('SIGKILL');
  await gone;
  fs.rmSync(serial, { force: true });
}
