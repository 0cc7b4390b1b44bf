/**
 * daemon/vm/hibernate.ts on the path of QEMU ≥ 9 — `file:` migration with the
 * `mapped-ram` capability — which no QEMU on these machines offers (Debian 12
 * has 7.2): against a QMP double (test/harness/fake-qemu.ts) that speaks the
 * commands and writes a sparse image as QEMU does. What it checks is hiboss's
 * side: the capability found by asking, not by version; QEMU given the file
 * itself (no socket of ours); the image private, renamed only once complete, and
 * its size what it takes on disk; a restore that asks for mapped-ram again and
 * brings back the state that was saved; an image a QEMU cannot read set aside
 * with a clear reason, its QEMU ended. The same steps were run by hand against
 * real QEMU 10.0 (Debian 13's), see the README's Memory section.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureVmDirs, vmPaths, type RuntimeRoots, type VmPaths } from '../../config/paths.js';
import { controlArgs, type LaunchCommand } from '../../daemon/launch/launcher.js';
import { findImage, imagePaths, ImageMeta, restoreImage, saveImage } from '../../daemon/vm/hibernate.js';
import { VmProcess } from '../../daemon/vm/vm-process.js';
import { FAKE_RAM_BYTES, type FakeQemuBehaviour } from '../harness/fake-qemu.js';
import { alive } from '../harness/inspect.js';

const FAKE_QEMU = fileURLToPath(new URL('../harness/fake-qemu.js', import.meta.url));

const t = suite('hibernate.ts with mapped-ram (QEMU ≥ 9), against a QMP double');
let root: string;
let paths: VmPaths;
let behaviourFile: string;
let running: VmProcess[] = [];

t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hibmr-'));
  const roots: RuntimeRoots = { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') };
  paths = vmPaths(roots, 'g');
  ensureVmDirs(roots, paths);
  behaviourFile = path.join(root, 'behaviour.json');
  behave({ mappedRam: true, ramBytes: FAKE_RAM_BYTES });
});
t.after.each(async () => {
  for (const vm of running) if (!vm.ended) await vm.quit(1000).catch(() => undefined);
  running = [];
  fs.rmSync(root, { recursive: true, force: true });
});

function behave(behaviour: FakeQemuBehaviour): void {
  fs.writeFileSync(behaviourFile, JSON.stringify(behaviour));
}

type Logged = { execute?: string; arguments?: Record<string, unknown>; started?: { incoming: boolean; token: string }; restoredToken?: string };

/** The double's log, one run of it after another (each begins with `started`). */
function runsLogged(): Logged[][] {
  const entries = fs.readFileSync(`${behaviourFile}.log`, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Logged);
  const runs: Logged[][] = [];
  for (const entry of entries) entry.started ? runs.push([entry]) : runs.at(-1)!.push(entry);
  return runs;
}

const command = (): LaunchCommand => ({ file: process.execPath, args: [FAKE_QEMU, '-fake-behaviour', behaviourFile, ...controlArgs('g', paths)] });

async function launch(launched: LaunchCommand): Promise<VmProcess> {
  const vm = await VmProcess.launch(launched, paths);
  running.push(vm);
  return vm;
}

t('a save where QEMU offers mapped-ram: QEMU writes the file itself; the image is private, complete, and counted as what it takes on disk', async () => {
  const vm = await launch(command());
  const saved = await saveImage(vm, { paths, command: command(), rssBytes: null });
  const files = imagePaths(paths);
  const meta = ImageMeta.parse(JSON.parse(fs.readFileSync(files.meta, 'utf8')));
  assert.is(meta.format, 'mapped-ram');
  assert.is(meta.qemuVersion, '10.0.0');
  const stat = fs.statSync(files.image);
  assert.is(stat.mode & 0o777, 0o600);
  assert.is(stat.size, FAKE_RAM_BYTES, 'as long as the guest RAM');
  assert.ok(saved.bytes < FAKE_RAM_BYTES / 4, `its holes are not counted: ${saved.bytes} bytes`);
  assert.is(findImage(paths)!.bytes, saved.bytes);
  assert.is(fs.existsSync(files.temp), false);
  assert.is(fs.existsSync(files.saveSocket), false, 'no socket of ours: QEMU wrote the file');

  const [run] = runsLogged();
  const asked = run!.filter((entry) => entry.execute).map((entry) => entry.execute);
  assert.ok(asked.indexOf('query-migrate-capabilities') < asked.indexOf('migrate-set-capabilities'), `found by asking: ${asked.join(' ')}`);
  const set = run!.find((entry) => entry.execute === 'migrate-set-capabilities')!;
  assert.equal(set.arguments, { capabilities: [{ capability: 'events', state: true }, { capability: 'mapped-ram', state: true }] });
  assert.equal(run!.find((entry) => entry.execute === 'migrate')!.arguments, { uri: `file:${files.temp}` }, 'written under the temporary name, renamed once complete');
});

t('its restore: -incoming defer, mapped-ram asked again, QEMU reads the image file itself, and the guest saved is the guest back', async () => {
  const vm = await launch(command());
  await saveImage(vm, { paths, command: command(), rssBytes: null });
  await vm.quit();
  let restoreCommand: LaunchCommand | undefined;
  const restored = await restoreImage({ paths, command: command(), launch: (launched) => ((restoreCommand = launched), launch(launched)) });
  assert.is(restored.state, 'paused');
  assert.is(restored.image.meta.format, 'mapped-ram');
  assert.equal(restoreCommand!.args.slice(-2), ['-incoming', 'defer']);
  assert.is(restoreCommand!.inheritFds, undefined, 'no descriptor handed over: QEMU opens the file');

  const [saving, restoring] = runsLogged();
  assert.is(restoring![0]!.started!.incoming, true);
  const set = restoring!.find((entry) => entry.execute === 'migrate-set-capabilities')!;
  assert.ok((set.arguments!.capabilities as { capability: string; state: boolean }[]).some((c) => c.capability === 'mapped-ram' && c.state));
  assert.equal(restoring!.find((entry) => entry.execute === 'migrate-incoming')!.arguments, { uri: `file:${imagePaths(paths).image}` });
  assert.is(restoring!.find((entry) => entry.restoredToken)!.restoredToken, saving![0]!.started!.token, 'the state that was saved came back');
});

t('an image written with mapped-ram, and a QEMU without it: nothing is loaded, its QEMU is ended, the image is kept aside and the reason says why', async () => {
  const vm = await launch(command());
  await saveImage(vm, { paths, command: command(), rssBytes: null });
  await vm.quit();
  behave({ mappedRam: false, ramBytes: FAKE_RAM_BYTES });
  let restoring: VmProcess | undefined;
  const error = await restoreImage({ paths, command: command(), launch: async (launched) => (restoring = await launch(launched)) }).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(error, 'the restore fails');
  assert.match(error!.message, /^the image was written with mapped-ram, which this QEMU lacks; the image is kept as memory-image\.unrestorable-\S+\.bin$/, error!.message);
  assert.ok(restoring, 'a QEMU was started to ask it');
  assert.is(alive(restoring!.pid), false, 'and ended: never a half-restored QEMU left behind');
  assert.is(findImage(paths), null);
  assert.ok(fs.readdirSync(paths.stateDir).some((name) => /^memory-image\.unrestorable-\S+\.bin$/.test(name)), 'kept aside, not deleted');
  assert.not.ok(runsLogged()[1]!.some((entry) => entry.execute === 'migrate-incoming'), 'nothing was loaded');
});

t.run();
