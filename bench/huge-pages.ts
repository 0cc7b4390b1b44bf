/**
 * Huge pages for a guest's RAM in hugetlbfs: what they do to free-page reporting.
 * The bench changes no system setting: an admin mounts hugetlbfs and reserves pages
 * (`mount -t hugetlbfs none DIR; echo N > /proc/sys/vm/nr_hugepages`), then
 *
 *   npm run build && node dist/bench/huge-pages.js --hugetlbfs=DIR [--mib=256]
 *
 * The real guest's RAM is a file in DIR (`memory-backend-file,share=on`), with the
 * balloon and free-page reporting hiboss adds; the guest fills 60 % of it and frees it
 * again; the bench reads HugePages_Free (/proc/meminfo) along the way. (The other two
 * layouts are in bench/memory.ts part 5: the anonymous layout's transparent huge pages
 * as AnonHugePages, the RAM file's as FilePmdMapped.)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { balloonArgs } from '../daemon/launch/balloon.js';
import { QmpClient } from '../qmp/client.js';
import { ensureGuest, guestQemuArgv, tickCount } from '../test/harness/guest.js';
import { waitForContent } from '../test/harness/processes.js';
import { connectAgent, guestSh } from '../test/harness/records.js';

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const MIB = Number(flag('mib') ?? 256);
const HUGETLBFS = flag('hugetlbfs');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const freeHuge = () => Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? -1);

async function main(): Promise<void> {
  if (!HUGETLBFS) throw new Error('--hugetlbfs=DIR: a hugetlbfs mount with pages reserved');
  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hugepages-'));
  const agentSocket = path.join(root, 'qga.sock');
  const serial = path.join(root, 'serial');
  const qmpSocket = path.join(root, 'qmp.sock');
  const [file, ...args] = guestQemuArgv(guest, serial, '', { agentSocket, memoryMiB: MIB });
  const ramFile = path.join(HUGETLBFS, `hiboss-bench-${process.pid}`);
  const before = freeHuge();
  const child = spawn(file!, [...args, '-object', `memory-backend-file,id=ram,size=${MIB}M,mem-path=${ramFile},share=on`, '-machine', 'memory-backend=ram', ...balloonArgs({}), '-qmp', `unix:${qmpSocket},server=on,wait=off`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  try {
    await waitForContent(serial, (text) => tickCount(text) >= 1, 120_000);
    const booted = freeHuge();
    const agent = await connectAgent(agentSocket);
    const fillMiB = Math.floor(MIB * 0.6);
    const fill = await guestSh(agent, `mkdir -p /big && mount -t tmpfs -o size=90% tmpfs /big && dd if=/dev/urandom of=/big/r bs=1M count=16 2>/dev/null && i=0; while [ $i -lt ${Math.floor(fillMiB / 16)} ]; do cat /big/r >> /big/fill; i=$((i+1)); done; rm /big/r`, 600_000);
    if (fill.code !== 0) throw new Error(`fill: ${fill.stderr}`);
    const filled = freeHuge();
    await guestSh(agent, 'rm /big/fill', 60_000);
    agent.close();
    let freed = filled;
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      freed = Math.max(freed, freeHuge());
    }
    const pages = (n: number) => `${n} (${n * 2} MiB)`;
    console.log(`huge pages (hugetlbfs, 2 MiB): guest ${MIB} MiB, ${fillMiB} MiB filled then deleted, free-page reporting on`);
    console.log(`   HugePages_Free: before QEMU ${pages(before)}; booted ${pages(booted)}; filled ${pages(filled)}; within 10 s of the delete ${pages(freed)} → ${(freed - filled) * 2} MiB back`);
    console.log(`   QEMU's warnings: ${stderr.trim().replace(/\n/g, ' | ') || 'none'}`);
    const client = await QmpClient.connect(qmpSocket);
    await client.execute('quit').catch(() => undefined);
    client.close();
  } finally {
    if (child.exitCode === null) child.kill();
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    fs.rmSync(ramFile, { force: true });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`bench failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
