/**
 * Numbered records on the real guest's virtio disk, for backup tests: through
 * the real guest agent (guest-exec), busybox formats /dev/vda (once), mounts it
 * on /mnt and appends fixed-size records "%063d\n" (1, 2, 3 …), each followed by
 * `sync`, until /mnt/stop exists. A backup or a restored disk must then hold a
 * consistent prefix: records 1..N, each whole, nothing torn.
 *
 * On the host side, an image's records are read without booting it: the image
 * (and its backing chain) flattened to raw, then debugfs (e2fsprogs) reads the file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../../qga/client.js';
import { bound } from './bounds.js';
import { errorMessage } from '../../shared/error-message.js';

export const RECORD_BYTES = 64;

export interface GuestRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program in the guest and waits for it (polling guest-exec-status: the agent has no events). */
export async function guestExec(agent: AgentClient, argv: readonly string[], timeoutMs = 20_000): Promise<GuestRun> {
  const { pid } = await agent.execute('guest-exec', { path: argv[0]!, arg: argv.slice(1), 'capture-output': true });
  return guestExit(agent, pid, argv, timeoutMs);
}

/** The outcome of guest process `pid`, started by guest-exec with capture-output, once it exits. */
export async function guestExit(agent: AgentClient, pid: number, argv: readonly string[], timeoutMs = 20_000): Promise<GuestRun> {
  timeoutMs = bound(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await agent.execute('guest-exec-status', { pid });
    if (status.exited) {
      const text = (b64?: string) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : '');
      return { code: status.exitcode ?? -1, stdout: text(status['out-data']), stderr: text(status['err-data']) };
    }
    if (Date.now() > deadline) throw new Error(`guest command did not finish within ${timeoutMs} ms: ${argv.join(' ').slice(0, 80)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a busybox shell script in the guest and waits for it. */
export function guestSh(agent: AgentClient, script: string, timeoutMs = 20_000): Promise<GuestRun> {
  return guestExec(agent, ['/bin/sh', '-c', script], timeoutMs);
}

/** Runs `fn` with the guest's agent once it answers; the connection is closed after. */
export async function withAgent<T>(socket: string, fn: (agent: AgentClient) => Promise<T>): Promise<T> {
  const agent = await connectAgent(socket);
  try {
    return await fn(agent);
  } finally {
    agent.close();
  }
}

/** Connects to the agent and waits until it answers (the guest boots in a few seconds under TCG). */
export async function connectAgent(socket: string, timeoutMs = 60_000): Promise<AgentClient> {
  timeoutMs = bound(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let agent: AgentClient | undefined;
    try {
      agent = await AgentClient.connect(socket);
      await agent.ping(3000);
      return agent;
    } catch (error) {
      agent?.close();
      if (Date.now() > deadline) throw new Error(`the guest agent at ${socket} did not answer within ${timeoutMs} ms: ${errorMessage(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Mounts the disk (formatting it first if `format`), optionally adds a `bigMiB` file, and starts the record loop. */
export async function startRecords(agent: AgentClient, options: { format?: boolean; bigMiB?: number } = {}): Promise<void> {
  const steps = [
    options.format ? 'mke2fs -q /dev/vda' : 'true',
    'mkdir -p /mnt',
    'mount /dev/vda /mnt',
    'rm -f /mnt/stop /tmp/records-stopped',
    'touch /mnt/records',
    options.bigMiB ? `dd if=/dev/urandom of=/mnt/big bs=1M count=${options.bigMiB} 2>/dev/null && sync` : 'true',
    // The loop outlives this script: the agent's child exits, the loop runs on.
    '(i=$(($(wc -c < /mnt/records 2>/dev/null || echo 0) / 64)); while [ ! -e /mnt/stop ]; do i=$((i+1)); printf "%063d\\n" $i >> /mnt/records; sync; done; touch /tmp/records-stopped) </dev/null >/dev/null 2>&1 &',
  ];
  const run = await guestSh(agent, steps.join(' && '));
  if (run.code !== 0) throw new Error(`could not start the records in the guest: ${run.stderr || run.stdout}`);
}

/** How many records the guest's file holds now. */
export async function recordsInGuest(agent: AgentClient): Promise<number> {
  const run = await guestSh(agent, 'wc -c < /mnt/records');
  if (run.code !== 0) throw new Error(`cannot read the records in the guest: ${run.stderr}`);
  return Math.floor(Number(run.stdout.trim()) / RECORD_BYTES);
}

/** Waits until the guest has written at least `count` records. */
export async function waitForRecords(agent: AgentClient, count: number, timeoutMs = 30_000): Promise<number> {
  timeoutMs = bound(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await recordsInGuest(agent);
    if (now >= count) return now;
    if (Date.now() > deadline) throw new Error(`only ${now} of ${count} records within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops the loop (it sees /mnt/stop and says so in /tmp) and unmounts. */
export async function stopRecords(agent: AgentClient): Promise<void> {
  const run = await guestSh(agent, 'touch /mnt/stop; for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do [ -e /tmp/records-stopped ] && umount /mnt && exit 0; sleep 0.2; done; exit 1');
  if (run.code !== 0) throw new Error(`could not stop the records and unmount: ${run.stderr}`);
}

/**
 * Checks a records file: whole records 1..N in order. Returns N, or throws
 * saying where it is torn.
 */
export function checkRecords(text: string): number {
  if (text.length % RECORD_BYTES !== 0) throw new Error(`torn: ${text.length} bytes is not a whole number of ${RECORD_BYTES}-byte records`);
  const count = text.length / RECORD_BYTES;
  for (let i = 0; i < count; i++) {
    const record = text.slice(i * RECORD_BYTES, (i + 1) * RECORD_BYTES);
    if (record !== `${String(i + 1).padStart(63, '0')}\n`) throw new Error(`record ${i + 1} is ${JSON.stringify(record.slice(-12))}, not ${i + 1}`);
  }
  return count;
}

/** The records file inside a (qcow2, possibly backed) image, read without booting it. */
export function recordsInImage(image: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-records-'));
  try {
    const raw = path.join(dir, 'disk.raw');
    execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', image, raw]);
    return execFileSync('debugfs', ['-R', 'cat /records', raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
