/**
 * A private network that is a network, over WireGuard, with real programs
 * between real VMs (net-lab.ts): alice and bob are members, eve sits on the
 * same LAN and even believes she is a member (her own copy of configs.json
 * lists her); later eve's VM makes new keys and is admitted as carol. Each VM makes its own keys; the test
 * reads the public ones, writes configs.json, evaluates each member's NixOS
 * values and applies them with the adapter (net-adapter.ts): the kernel's
 * wireguard, `wg`, the firewall, syncthing (devices dialled on the members'
 * wireguard addresses; eve's dials alice too and gets nowhere).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import type { MemberInput } from '../../networks/configs-schema.js';
import { admit, removeMember, writeNetworkConfigs } from '../harness/member-config.js';
import {
  connect, exists, GIT_PORT, makeIdentity, MUMBLE_PORT, NETWORK as CONFIG, pings, refusedByFirewall, serve, SHARED_FOLDER, startLab,
  SYNCTHING_PORT, syncs, syncthingDevices, syncthingIdentity, type Lab, type LabVm,
} from '../harness/net-lab.js';

const t = suite('members over wireguard, real VMs');
const test = bounded(t, 150_000);
/** The interface member-config.nix names. */
const WG = 'wg-hiboss';
let lab: Lab;
let bobKey = '';
let eveKey = '';
/** Each VM's syncthing device id (made inside it, once: eve's VM keeps hers as carol). */
const device: Partial<Record<LabVm, string>> = {};

const address = (index: number) => `10.77.0.${index}`;
/** The public identity made inside the VM `on`: its wireguard key. */
const identity = async (on: LabVm) => (await makeIdentity(lab.vm(on), 'wireguard')).identity;
/** Member entries: a VPN address, the VM's endpoint on the LAN; alice runs the mumble server, bob the git server. */
const member = async (on: LabVm, index: number, serves: MemberInput['serves'] = []): Promise<MemberInput> => {
  const [made, deviceId] = await Promise.all([identity(on), syncthingIdentity(lab.vm(on))]);
  device[on] = deviceId;
  return { address: address(index), endpoint: `${lab.vm(on).lan}:51820`, serves, ...made, syncthing: { deviceId } };
};
const NETWORK = {
  networkLayer: 'wireguard',
  wireguard: { address: '10.77.0.1/24' },
  applications: { mumbleServer: { enable: true }, gitServer: { enable: true }, syncthing: { enable: true, sharedFolders: [SHARED_FOLDER] } },
};

t.before(async () => {
  lab = await startLab('netlab-wg-', ['alice', 'bob', 'eve']);
});
t.after(async () => {
  await lab?.stop();
});

test('members reach each other over the VPN: ping and the service port', async () => {
  const [alice, bob, eve] = [lab.vm('alice'), lab.vm('bob'), lab.vm('eve')];
  const [a, b, e] = await Promise.all([member('alice', 1, ['mumble']), member('bob', 2, ['git']), member('eve', 3)]);
  bobKey = b.wireguard!.publicKey;
  eveKey = e.wireguard!.publicKey;
  await writeNetworkConfigs(lab.dir, CONFIG, NETWORK, { alice: a, bob: b });
  // Eve's own checkout lists her as a member: what she applies is what a member would.
  const evesCheckout = path.join(lab.dir, 'eve-checkout');
  fs.mkdirSync(evesCheckout);
  await writeNetworkConfigs(evesCheckout, CONFIG, NETWORK, { alice: a, bob: b, eve: e });
  await Promise.all([lab.apply('alice'), lab.apply('bob'), lab.apply('eve', path.join(evesCheckout, 'configs.json'))]);
  await Promise.all([serve(alice, MUMBLE_PORT), serve(bob, GIT_PORT)]);

  assert.ok(await pings(alice, address(2), 60), 'alice pings bob over wireguard');
  assert.ok(await pings(bob, address(1), 60), 'bob pings alice over wireguard');
  assert.is(await connect(bob, address(1), MUMBLE_PORT, 20), 'alice');
  assert.is(await connect(alice, address(2), GIT_PORT, 20), 'bob');
  const peers = await alice.run(['wg', 'show', WG, 'latest-handshakes']);
  assert.ok(peers.includes(bobKey), `alice's ${WG} has handshaken with bob: ${peers}`);
});

test("a file put in alice's /shared/docs appears in bob's within 60 s (syncthing over wireguard)", async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  assert.equal(await syncthingDevices(alice, device.alice!), [device.bob!], "alice's syncthing devices are the other members: bob");
  assert.is(await syncs(alice, bob, 'hello.txt'), 'from alice\n');
});

test('eve reaches no service port of alice: not over the VPN, not on the LAN', async () => {
  const [alice, eve] = [lab.vm('alice'), lab.vm('eve')];
  const [ping, answer, sync] = await Promise.all([
    pings(eve, address(1), 5),
    connect(eve, address(1), MUMBLE_PORT, 5),
    connect(eve, address(1), SYNCTHING_PORT, 5),
    // On the LAN, alice's firewall sees eve's connections and refuses them.
    refusedByFirewall(eve, eve.lan, alice, alice.lan, MUMBLE_PORT),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, GIT_PORT),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, SYNCTHING_PORT),
  ]);
  assert.not.ok(ping, 'eve gets no answer from alice on the VPN');
  assert.is(answer, undefined, "eve reaches no port on alice's VPN address");
  assert.is(sync, undefined, "eve reaches not alice's syncthing port");
  // Eve's syncthing runs, configured from her own checkout, with alice as a device; alice's has no eve.
  assert.ok((await syncthingDevices(eve, device.eve!)).includes(device.alice!), "eve's syncthing would dial alice");
  assert.not.ok((await syncthingDevices(alice, device.alice!)).includes(device.eve!), 'eve is no syncthing device of alice');
  assert.not.ok(await exists(eve, `${SHARED_FOLDER}/hello.txt`), "alice's file, which bob has, is not in eve's folder");
  const peers = await alice.run(['wg', 'show', WG, 'peers']);
  assert.not.ok(peers.includes(eveKey), 'eve is no peer of alice');
});

test('after bob is removed and the new config applied, bob reaches nothing of alice', async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  await removeMember(lab.dir, 'bob');
  await lab.apply('alice'); // bob keeps his old configuration: he still believes he is a member
  const peers = await alice.run(['wg', 'show', WG, 'peers']);
  assert.not.ok(peers.includes(bobKey), `bob is no longer alice's peer: ${peers}`);
  assert.equal(await syncthingDevices(alice, device.alice!), [], 'bob is no syncthing device of alice any more');
  const [ping, mumble, git] = await Promise.all([
    pings(bob, address(1), 5),
    connect(bob, address(1), MUMBLE_PORT, 5),
    connect(bob, address(1), GIT_PORT, 5),
    refusedByFirewall(bob, bob.lan, alice, alice.lan, MUMBLE_PORT),
  ]);
  assert.not.ok(ping, 'bob gets no answer from alice on the VPN');
  assert.is(mumble, undefined, "bob no longer reaches alice's mumble port");
  assert.is(git, undefined, 'bob no longer reaches any port of alice');
});

test('after carol (eve re-keyed) is admitted, carol reaches alice', async () => {
  const [alice, carol] = [lab.vm('alice'), lab.vm('eve')]; // eve's VM makes new keys and becomes carol
  await admit(lab.dir, { v: 1, name: 'carol', endpoint: `${carol.lan}:51820`, ...(await identity('eve')), syncthing: { deviceId: device.eve! } }, { address: address(4) });
  await Promise.all([lab.apply('alice'), lab.apply('carol', lab.configsPath, 'eve')]);
  assert.ok(await pings(carol, address(1), 60), 'carol pings alice over wireguard');
  assert.is(await connect(carol, address(1), MUMBLE_PORT, 20), 'alice');
});

t.run();
