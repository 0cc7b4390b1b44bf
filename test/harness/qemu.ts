/** Real QEMU for tests: a bare q35 machine, or the real guest (guest.ts). */
import fs from 'node:fs';
import path from 'node:path';
import { start, waitForFile, waitUntilAccepting, type Started } from './processes.js';

export const BARE_QEMU = ['qemu-system-x86_64', '-M', 'q35', '-m', '64', '-nodefaults', '-display', 'none', '-nic', 'none'];

export interface RunningQemu {
  qmpSocket: string;
  process: Started;
  stderr(): string;
}

export async function startQemu(dir: string, extraArgs: string[] = []): Promise<RunningQemu> {
  fs.mkdirSync(dir, { recursive: true });
  const qmpSocket = path.join(dir, 'qmp.sock');
  const [file, ...args] = BARE_QEMU;
  let stderr = '';
  const proc = start(file!, [...args, ...extraArgs, '-qmp', `unix:${qmpSocket},server=on,wait=off`], {
    stdout: 'ignore',
    stderr: 'pipe',
  });
  proc.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await Promise.race([
    waitForFile(qmpSocket, 15_000, 'the QMP socket'),
    proc.exited.then(() => {
      throw new Error(`qemu exited at start: ${stderr}`);
    }),
  ]);
  await waitUntilAccepting(qmpSocket);
  return { qmpSocket, process: proc, stderr: () => stderr };
}
