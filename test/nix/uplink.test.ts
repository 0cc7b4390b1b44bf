/**
 * Only its own network: two flake VMs, each on its own passt
 * (daemon/launch/uplink.ts), in a "host" the test builds from network
 * namespaces — nothing leaves the machine:
 *
 *   host netns:  lo (127.0.0.1), up0 10.99.0.1/24 (default route via 10.99.0.254),
 *                o1 10.98.0.1/24 (another interface); HOST-… listeners on all three
 *   world netns: w0 10.99.0.254 (the gateway) and 192.0.2.10 (the "internet"): WORLD listeners
 *
 * VM acme's guest (busybox nc, DHCP from passt) reaches the internet and the
 * real gateway, and never the host: not through the gateway address, not its
 * loopback, not its addresses on either interface. VM beta takes another
 * address than DHCP's (the host's uplink address is then not its own) and
 * still reaches the internet but not that address; it listens on 8081, and
 * acme reaches it by no address.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import { consoleLog } from '../../daemon/launch/flake-argv.js';
import type { VmPaths } from '../../daemon/launch/launcher.js';
import { defaultRouteInterfaces, stopUplink } from '../../daemon/launch/uplink.js';
import { ensureGuest } from '../harness/guest.js';
import { start, waitForContent, waitForFile, type Started } from '../harness/processes.js';
import { guestManifest, makeStandInNix } from '../harness/stand-in-nix.js';
import { bound } from '../harness/bounds.js';

const t = suite('uplink');
const LISTENERS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'harness', 'listeners.js');

t('a VM reaches the internet, never the host (gateway, loopback, its other addresses) nor another VM', async () => {
  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnet-'));
  const started: Started[] = [];
  const keep = (proc: Started) => (started.push(proc), proc);
  const vmPaths: VmPaths[] = [];
  try {
    // Two empty network namespaces, held by a process each.
    const host = keep(start('unshare', ['--net', 'sleep', '600']));
    const world = keep(start('unshare', ['--net', 'sleep', '600']));
    const inNs = (ns: Started) => ['nsenter', `--net=/proc/${ns.pid}/ns/net`];
    const ip = async (ns: Started, ...args: string[]) => {
      const [file, ...prefix] = inNs(ns);
      await execa(file!, [...prefix, 'ip', ...args]);
    };
    // unshare has made its namespace once it execs sleep.
    await waitFor(() => fs.readlinkSync(`/proc/${host.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net') && fs.readlinkSync(`/proc/${world.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net'));
    await ip(host, 'link', 'set', 'lo', 'up');
    await ip(host, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'w0', 'netns', `/proc/${world.pid}/ns/net`);
    await ip(host, 'addr', 'add', '10.99.0.1/24', 'dev', 'up0');
    await ip(host, 'link', 'set', 'up0', 'up');
    await ip(host, 'route', 'add', 'default', 'via', '10.99.0.254');
    await ip(host, 'link', 'add', 'o1', 'type', 'veth', 'peer', 'name', 'o1p');
    await ip(host, 'addr', 'add', '10.98.0.1/24', 'dev', 'o1');
    await ip(host, 'link', 'set', 'o1', 'up');
    await ip(host, 'link', 'set', 'o1p', 'up');
    await ip(world, 'link', 'set', 'lo', 'up');
    await ip(world, 'addr', 'add', '10.99.0.254/24', 'dev', 'w0');
    await ip(world, 'addr', 'add', '192.0.2.10/32', 'dev', 'lo');
    await ip(world, 'link', 'set', 'w0', 'up');
    await ip(world, 'route', 'add', 'default', 'via', '10.99.0.1');

    const listen = async (ns: Started, specs: string[]) => {
      const [file, ...prefix] = inNs(ns);
      const ready = path.join(root, `listening-${started.length}`);
      keep(start(file!, [...prefix, process.execPath, LISTENERS, ready, ...specs]));
      await waitForFile(ready, 20_000, 'listeners');
    };
    await listen(host, ['127.0.0.1:8080=HOST-LOOPBACK', '10.99.0.1:8080=HOST-UPLINK', '10.98.0.1:8080=HOST-OTHER', '0.0.0.0:8082=HOST-ANY']);
    await listen(world, ['0.0.0.0:8080=WORLD']);

    const interfaces = defaultRouteInterfaces(`/proc/${host.pid}/net`);
    assert.equal(interfaces, { ipv4: 'up0', ipv6: null }, 'the uplink is the default route\'s interface');
    const nix = makeStandInNix(path.join(root, 'nix'));
    nix.setGuest(guest);
    const launcher = new FlakeLauncher({ env: { PATH: `${nix.binDir}:${process.env.PATH}` }, uplink: { passt: [...inNs(host), 'passt'], interfaces } });
    const boot = async (name: string, cmdline: string) => {
      const runDir = path.join(root, name);
      fs.mkdirSync(runDir, { mode: 0o700 });
      const paths: VmPaths = { runDir, qmpSocket: path.join(runDir, 'qmp.sock'), pidFile: path.join(runDir, 'qemu.pid'), logFile: path.join(runDir, 'qemu.log'), stateDir: path.join(root, 'state', name) };
      vmPaths.push(paths);
      nix.setManifest(guestManifest(name, cmdline));
      const command = await launcher.prepare({ name, vm: { workspace: name, flake: `github:net/${name}#${name}`, restart: 'on-failure', display: 'none' }, paths, progress: () => {}, signal: new AbortController().signal });
      keep(start(command.file, command.args, {}));
      return paths;
    };
    const probes = ['gw:8080', '192.0.2.10:8080', '10.99.0.254:8082', '10.98.0.1:8080', '10.99.0.1:8080', '127.0.0.1:8080', '10.98.0.1:8082', '10.99.0.1:8082', 'gw:8082', '10.99.0.1:8081', '10.99.0.77:8081', 'gw:8081'];
    // beta lies about its address: the host's uplink address is then not its own, and it tries that.
    const betaProbes = ['127.0.0.1:8081', '192.0.2.10:8080', '10.99.0.1:8080', '10.99.0.1:8082', '10.98.0.1:8080'];
    const beta = await boot('beta', `hiboss.net=1 hiboss.address=10.99.0.77 hiboss.listen=8081 hiboss.probe=${betaProbes.join(',')}`);
    const acme = await boot('acme', `hiboss.net=1 hiboss.probe=${probes.join(',')}`);
    const done = (paths: VmPaths) =>
      waitForContent(consoleLog(paths), (log) => log.includes('PROBES-DONE'), 120_000).catch((error: Error) => {
        const said = fs.readFileSync(consoleLog(paths), 'utf8').split('\n').filter((line) => !line.startsWith('tick'));
        throw new Error(`${error.message}\nthe guest said:\n${said.join('\n')}`);
      });
    const betaLog = await done(beta);
    const acmeLog = await done(acme);
    const answer = (log: string, probe: string) => new RegExp(`PROBE ${probe.replace(/\./g, '\\.')} \\[(.*)\\]`).exec(log)?.[1] ?? 'no probe line';

    assert.match(acmeLog, /NET-UP 10\.99\.0\.1 gw 10\.99\.0\.254/, 'DHCP from passt: the host\'s address and gateway');
    assert.match(answer(acmeLog, '192.0.2.10:8080'), /WORLD/, 'the internet is reachable (what the VPN needs)');
    assert.match(answer(acmeLog, 'gw:8080'), /WORLD/, 'the gateway address is the real gateway, not the host');
    assert.match(answer(betaLog, '127.0.0.1:8081'), /GUEST-LISTENER/, 'beta listens');
    assert.match(betaLog, /NET-UP 10\.99\.0\.77 gw 10\.99\.0\.254/);
    assert.match(answer(betaLog, '192.0.2.10:8080'), /WORLD/, 'a guest that lies about its address still has the internet');
    for (const probe of betaProbes.slice(2)) assert.not.match(answer(betaLog, probe), /HOST-/, `beta ${probe}: ${answer(betaLog, probe)}`);
    for (const probe of probes) {
      assert.not.match(answer(acmeLog, probe), /HOST-|GUEST-LISTENER/, `${probe}: ${answer(acmeLog, probe)}`);
    }
    assert.not.match(acmeLog, /HOST-|GUEST-LISTENER/);
  } finally {
    for (const proc of started.reverse()) await proc.stop();
    for (const paths of vmPaths) stopUplink(paths);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

async function waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + bound(timeoutMs);
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.run();
