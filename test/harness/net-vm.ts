/**
 * One running network guest (net-guest.ts) on a test LAN (lan-hub.ts), driven
 * through its real guest agent: argv commands (guest-exec), files
 * (guest-file-write), daemons started in the background; and its serial
 * console, whose lines (firewall refusals, "NET-GUEST-UP") the test awaits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../qga/client.js';
import type { Guest } from './guest.js';
import type { LanHub } from './lan-hub.js';
import { start, waitForContent, waitForFile, type Started } from './processes.js';
import { connectAgent, guestExec, type GuestRun } from './records.js';

export interface NetVm {
  readonly name: string;
  /** eth0's address on the LAN (no prefix). */
  readonly lan: string;
  readonly serialLog: string;
  readonly agent: AgentClient;
  readonly process: Started;
  /** Runs argv in the guest; resolves with its exit code and output. */
  exec(argv: readonly string[], timeoutMs?: number): Promise<GuestRun>;
  /** As exec, but a non-zero exit is an error naming the command and its stderr. */
  run(argv: readonly string[], timeoutMs?: number): Promise<string>;
  /** Starts a long-running program in the guest (no output captured): its pid in the guest. */
  spawn(argv: readonly string[]): Promise<number>;
  /** Writes a file in the guest atomically with that mode (its parent must exist). */
  writeFile(file: string, content: string, mode?: number): Promise<void>;
  readFile(file: string): Promise<string>;
  /** Resolves with the serial console's text once `pattern` matches in what came after `from` (a length of the log). */
  awaitSerial(pattern: RegExp, timeoutMs: number, from?: number): Promise<RegExpExecArray>;
  serialLength(): number;
  stop(): Promise<void>;
}

export interface NetVmSpec {
  name: string;
  /** 1..254: the LAN address 192.168.77.N and the MAC's last byte. */
  index: number;
}

export const LAN_PREFIX = '192.168.77';

export async function startNetVm(dir: string, guest: Guest, hub: LanHub, spec: NetVmSpec): Promise<NetVm> {
  const vmDir = path.join(dir, spec.name);
  fs.mkdirSync(vmDir, { recursive: true, mode: 0o700 });
  const serialLog = path.join(vmDir, 'serial.log');
  const agentSocket = path.join(vmDir, 'qga.sock');
  const lan = `${LAN_PREFIX}.${spec.index}`;
  const mac = `52:54:00:77:00:${spec.index.toString(16).padStart(2, '0')}`;
  const argv = [
    '-M', 'q35', '-m', '384', '-nodefaults', '-display', 'none',
    '-kernel', guest.kernel, '-initrd', guest.initrd,
    '-append', `console=ttyS0 quiet panic=-1 hiboss.name=${spec.name} hiboss.lan=${lan}/24`,
    '-serial', `file:${serialLog}`,
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=qga0,path=${agentSocket},server=on,wait=off`,
    '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    ...hub.qemuArgs(mac),
  ];
  let stderr = '';
  const proc = start('qemu-system-x86_64', argv, { stdout: 'ignore', stderr: 'pipe' });
  proc.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const failedEarly = proc.exited.then(() => {
    throw new Error(`${spec.name}: QEMU exited: ${stderr}`);
  });
  const readSerial = () => {
    try {
      return fs.readFileSync(serialLog, 'utf8');
    } catch {
      return '';
    }
  };
  const awaitSerial = async (pattern: RegExp, timeoutMs: number, from = 0) => {
    const text = await Promise.race([waitForContent(serialLog, (t) => pattern.test(t.slice(from)), timeoutMs), failedEarly]);
    return pattern.exec(text.slice(from))!;
  };
  await Promise.race([waitForFile(agentSocket, 15_000, `${spec.name}'s agent socket`), failedEarly]);
  await awaitSerial(/NET-GUEST-UP/, 120_000);
  const agent = await Promise.race([connectAgent(agentSocket, 60_000), failedEarly]);
  const exec = (command: readonly string[], timeoutMs = 60_000) => guestExec(agent, command, timeoutMs);
  const vm: NetVm = {
    name: spec.name,
    lan,
    serialLog,
    agent,
    process: proc,
    exec,
    async run(command, timeoutMs) {
      const result = await exec(command, timeoutMs);
      if (result.code !== 0) throw new Error(`${spec.name}: ${command.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
      return result.stdout;
    },
    async spawn(command) {
      const { pid } = await agent.execute('guest-exec', { path: command[0]!, arg: command.slice(1) });
      return pid;
    },
    async writeFile(file, content, mode = 0o600) {
      // Atomic, as the programs may be reading the old file: a temp file beside it, its mode, then rename.
      const temp = `${file}.netlab-tmp`;
      const handle = await agent.execute('guest-file-open', { path: temp, mode: 'w' });
      try {
        await agent.execute('guest-file-write', { handle, 'buf-b64': Buffer.from(content).toString('base64') });
      } finally {
        await agent.execute('guest-file-close', { handle });
      }
      await vm.run(['chmod', mode.toString(8), temp]);
      await vm.run(['mv', temp, file]);
    },
    readFile: (file) => vm.run(['cat', file]),
    awaitSerial,
    serialLength: () => readSerial().length,
    async stop() {
      agent.close();
      await proc.stop();
    },
  };
  return vm;
}
