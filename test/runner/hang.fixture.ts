/**
 * Not a test: a file the runner's own test runs to see a timeout clean up. It starts
 * two QEMUs in sessions of their own, as the daemon does — one under a harness
 * sandbox, one under a bare temp dir that only the runner's sweep knows of — writes
 * where they are to $HIBOSS_FIXTURE_REPORT, and then hangs until the runner ends it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import { BARE_QEMU } from '../harness/qemu.js';
import { waitForFile } from '../harness/processes.js';
import { makeSandbox } from '../harness/sandbox.js';

/** A bare QEMU the harness does not track, like a daemon's; resolves once its QMP socket exists. */
async function untrackedQemu(dir: string): Promise<number> {
  const socket = path.join(dir, 'qmp.sock');
  const [file, ...args] = BARE_QEMU;
  const child = spawn(file!, [...args, '-qmp', `unix:${socket},server=on,wait=off`], { detached: true, stdio: 'ignore' });
  child.unref();
  await waitForFile(socket, 30_000, 'the fixture QEMU socket');
  return child.pid!;
}

test('starts two QEMUs and hangs', async () => {
  const report = process.env.HIBOSS_FIXTURE_REPORT;
  if (!report) throw new Error('HIBOSS_FIXTURE_REPORT is not set');
  const sandbox = makeSandbox('fixture');
  const loose = fs.mkdtempSync(path.join(os.tmpdir(), 'loose-'));
  const pids = [await untrackedQemu(sandbox.root), await untrackedQemu(loose)];
  fs.writeFileSync(`${report}.tmp`, JSON.stringify({ sandbox: sandbox.root, loose, pids }));
  fs.renameSync(`${report}.tmp`, report);
  await new Promise(() => setInterval(() => {}, 60_000)); // a live timer keeps the file hanging until the runner ends it
});

test.run();
