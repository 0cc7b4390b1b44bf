/**
 * The test runner (test/run.mjs) on a file that hangs past its limit: the file's
 * harness ends what it started on SIGTERM, the runner sweeps whatever else carries
 * the run's temp dir, and nothing is left running. Real QEMUs, a real runner.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO } from '../harness/daemon.js';
import { alive, processesWithArg } from '../harness/inspect.js';

const FIXTURE = path.join(REPO, 'dist', 'test', 'runner', 'hang.fixture.js');

test('a file past its limit leaves no QEMU behind: the harness ends its own, the runner sweeps the rest', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'));
  try {
    const report = path.join(dir, 'report.json');
    const run = await execa(process.execPath, [path.join(REPO, 'test', 'run.mjs'), FIXTURE], {
      env: { HIBOSS_FIXTURE_REPORT: report, HIBOSS_TEST_FILE_TIMEOUT_MS: '6000' },
      reject: false,
      all: true,
    });
    const output = run.all ?? '';
    assert.ok(fs.existsSync(report), `the fixture never got its QEMUs up before the limit:\n${output}`);
    const { sandbox, loose, pids } = JSON.parse(fs.readFileSync(report, 'utf8')) as { sandbox: string; loose: string; pids: number[] };
    assert.is(run.exitCode, 1, output);
    assert.match(output, /hang\.fixture\.js: timed out after \d+ ms/);
    assert.match(output, /SIGTERM: ending every process this file started/);
    assert.match(output, /0 passed, 1 failed$/);
    // Each file's time follows its output; the slowest files come just before the last line.
    assert.match(output, /^-- runner\/hang\.fixture\.js: \d+\.\d s$/m);
    assert.match(output, /\nslowest 1:\n +\d+\.\d s  runner\/hang\.fixture\.js\n(?:.*\n)*0 passed, 1 failed$/);
    // The sandboxed QEMU was the harness's to end (its sandbox is gone too); only the loose one was swept.
    assert.not.ok(fs.existsSync(sandbox), 'the harness removed its sandbox on SIGTERM');
    assert.match(output, /swept 1 leftover process\(es\):\n\s+\d+ qemu-system-x86_64 .*loose-/);
    // SIGKILLed processes may linger a moment as zombies of init; their argv is then empty.
    for (const pid of pids) assert.not.ok(alive(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '', `QEMU ${pid} still runs`);
    assert.equal(processesWithArg(sandbox), []);
    assert.equal(processesWithArg(loose), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
