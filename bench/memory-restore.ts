/**
 * Part 1 of the memory bench (bench/memory.ts): a hibernated VM's restore, focus →
 * the daemon's StateChanged(running), against the floor measured round by round
 * (QEMU with `-incoming defer` up to QMP, plus `cat` of the image), QEMU alone
 * restoring the image without a daemon, a cold boot of the same guest, a prewarmed
 * restore, the save and the image's size.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { vmPaths, type VmPaths } from '../config/paths.js';
import { balloonArgs } from '../daemon/launch/balloon.js';
import { controlArgs } from '../daemon/launch/launcher.js';
import { findImage } from '../daemon/vm/hibernate.js';
import { QmpClient } from '../qmp/client.js';
import { HIBOSS } from '../test/harness/daemon.js';
import { waitForContent } from '../test/harness/processes.js';
import { bootVisit, daemon, end, focus, fresh, imageOf, reach, root, runDir, runningSignal, serial, sleep, vmConfig, vmRoots } from './memory-session.js';

const run = promisify(execFile);
const COLD = ['c1', 'c2', 'c3'];

export interface RestoreFigures {
  restore: number[];
  /** How the daemon wrote the image (the QEMU on PATH decides). */
  format: string;
  prewarmed: number[];
  floorQemu: number[];
  floorCat: number[];
  cold: number[];
  save: number[];
  imageBytes: number[];
  /** The daemon's own account of each restore (QEMU up, image loaded, done). */
  phases: string[];
  /** QEMU alone restoring the image (start, migrate-incoming fd:3, cont), no daemon. */
  bare: number[];
  /** Each restore against the floor measured in its own round. */
  pairedRatios: number[];
}

export async function measureRestore(rounds: number): Promise<RestoreFigures> {
  const figures: RestoreFigures = { format: '', restore: [], prewarmed: [], floorQemu: [], floorCat: [], cold: [], save: [], imageBytes: [], phases: [], bare: [], pairedRatios: [] };
  await fresh(() => ({
    vms: { r: vmConfig('r', '1'), ...Object.fromEntries(COLD.map((name, i) => [name, vmConfig(name, String(i + 2), { hibernate: false })])) },
    policy: { pauseAfterMs: 100, hibernateAfterMs: 300 },
  }));
  try {
    await bootVisit('r', '1');
    for (let round = 0; round < rounds; round++) {
      // Hidden: paused, then saved; the figures come from the daemon after the fact.
      await focus('9');
      await reach('r', 'hibernated');
      const status = (await daemon.client.status()).vms.find((vm) => vm.name === 'r')!;
      figures.save.push(status.lastSaveMs!);
      figures.imageBytes.push(status.image!.bytes);
      const image = imageOf('r');
      figures.format = findImage(vmPaths(vmRoots(), 'r'))!.meta.format;
      // The same page cache for floor and restore: the image is read once beforehand (the save
      // has just written it; this makes sure), so neither pays for the disk.
      await catFloor(image);

      // The floor, same argv: QEMU with -incoming defer until QMP answers; reading the image.
      figures.floorQemu.push(await qemuStartFloor());
      figures.floorCat.push(await catFloor(image));
      figures.bare.push(await bareRestore(image, figures.format === 'mapped-ram'));

      const prewarm = round % 4 === 3;
      if (prewarm) {
        await run(process.execPath, [HIBOSS, 'prewarm', 'r'], { env: daemon.env });
        await reach('r', 'paused');
      }
      // t1: the daemon's StateChanged(running), which follows QEMU's RESUME by a millisecond or two.
      const signalled = runningSignal('r');
      const t0 = await focus('1');
      const took = (await signalled) - t0;
      (prewarm ? figures.prewarmed : figures.restore).push(took);
      if (!prewarm) figures.pairedRatios.push(took / (figures.floorQemu.at(-1)! + figures.floorCat.at(-1)!));
      await reach('r', 'running');
    }
    figures.phases = daemon.log().split('\n').filter((line) => /r: restore: QEMU up after/.test(line)).map((line) => line.replace(/^.*r: restore: /, ''));
    // Cold boots of the same guest (VMs never started yet): focus → its first tick.
    for (const [i, name] of COLD.entries()) {
      const t0 = await focus(String(i + 2));
      await waitForContent(serial(name), (text) => /tick 1\b/.test(text), 120_000);
      figures.cold.push(performance.now() - t0);
    }
  } finally {
    await end();
  }
  return figures;
}

/**
 * The argv the daemon starts a restore with (the guest's, then -name/-qmp/-pidfile as
 * controlArgs makes them, the balloon, -incoming defer), for a QEMU of the bench's own.
 */
function restoreArgv(socket: string): { file: string; args: string[] } {
  fs.mkdirSync(runDir('floor'), { recursive: true, mode: 0o700 });
  const [file, ...args] = vmConfig('floor', '99').qemu;
  const control = controlArgs('floor', { qmpSocket: socket, pidFile: path.join(root(), 'floor.pid') } as VmPaths);
  return { file: file!, args: [...args, ...control, ...balloonArgs({}), '-incoming', 'defer'] };
}

async function qmpWhenUp(socket: string): Promise<QmpClient> {
  for (;;) {
    try {
      return await QmpClient.connect(socket);
    } catch {
      await sleep(1);
    }
  }
}

async function quitBenchQemu(client: QmpClient, child: ChildProcess): Promise<void> {
  await client.execute('quit').catch(() => undefined);
  client.close();
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
}

/** The floor's first part: the daemon's restore argv (with -incoming defer) from spawn until QMP answers. */
async function qemuStartFloor(): Promise<number> {
  const socket = path.join(root(), 'floor.qmp');
  fs.rmSync(socket, { force: true });
  const { file, args } = restoreArgv(socket);
  const t0 = performance.now();
  const child = spawn(file, args, { stdio: 'ignore' });
  const client = await qmpWhenUp(socket);
  const elapsed = performance.now() - t0;
  await quitBenchQemu(client, child);
  return elapsed;
}

/**
 * QEMU alone, no daemon, the way the daemon does it: a stream image as its fd 3 and
 * migrate-incoming fd:3 (a mapped-ram image, QEMU ≥ 9: mapped-ram on and
 * migrate-incoming file:), `cont` once the MIGRATION event says completed, until
 * RESUME — the least a restore through this QEMU can take (told by events: a poll
 * would steal CPU from the loading QEMU).
 */
async function bareRestore(image: string, mappedRam: boolean): Promise<number> {
  const socket = path.join(root(), 'bare.qmp');
  fs.rmSync(socket, { force: true });
  const { file, args } = restoreArgv(socket);
  const imageFd = fs.openSync(image, 'r');
  const t0 = performance.now();
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'ignore', imageFd] });
  fs.closeSync(imageFd);
  const client = await qmpWhenUp(socket);
  const loaded = new Promise<string>((resolve) => client.onEvent('MIGRATION', (event) => ['completed', 'failed'].includes(event.data.status) && resolve(event.data.status)));
  const resumed = new Promise((resolve) => client.onEvent('RESUME', resolve));
  await client.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }, ...(mappedRam ? [{ capability: 'mapped-ram', state: true }] : [])] });
  await client.execute('migrate-incoming', { uri: mappedRam ? `file:${image}` : 'fd:3' });
  if ((await loaded) !== 'completed') throw new Error('QEMU alone could not load the image');
  await client.execute('cont');
  await resumed;
  const elapsed = performance.now() - t0;
  await quitBenchQemu(client, child);
  return elapsed;
}

/** `cat IMAGE > /dev/null`, without a shell: cat's stdout is /dev/null. */
async function catFloor(image: string): Promise<number> {
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    const t0 = performance.now();
    const child = spawn('cat', [image], { stdio: ['ignore', devNull, 'inherit'] });
    await new Promise((resolve) => child.once('exit', resolve));
    return performance.now() - t0;
  } finally {
    fs.closeSync(devNull);
  }
}
