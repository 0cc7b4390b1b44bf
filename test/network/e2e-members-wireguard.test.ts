/**
 * A private network that is a network, over WireGuard, with real programs
 * between real VMs (net-lab.ts): alice and bob are members, eve sits on the
 * same LAN and even believes she is a member (her own copy of configs.json
 * lists her); later eve's VM makes new keys and is admitted as carol. Each VM makes its own keys; the test
 * reads the public ones, writes configs.json, evaluates each member's NixOS
 * values and applies them with the adapter (net-adapter.ts): the kernel's
 * wireguard, `wg`, the nftables firewall, syncthing.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import { addMember, removeMember, type Member } from '../harness/member-config.js';
import {
  connect, makeIdentity, MUMBLE_PORT, pings, refusedByFirewall, serve, startLab, syncthingIdentity, writeLabConfigs, type Lab, type LabVm,
} from '../harness/net-lab.js';

const t = suite('members over wireguard, real VMs');
const test = bounded(t, 150_000);
let lab: Lab;
const members: Record<string, Member> = {};
let eveKey = '';

const address = (index: number) => `10.77.0.${index}`;
/** Member `name`'s entry: keys made inside the VM `on`, a VPN address, the VM's endpoint on the LAN. */
const entry = async (name: LabVm, index: number, on: LabVm = name): Promise<Member> => ({
  address: address(index),
  endpoint: `${lab.vm(on).lan}:51820`,
  serves: ['mumble'],
  ...(await makeIdentity(lab.vm(on), 'wireguard', name)).member,
  syncthing: { deviceId: await syncthingIdentity(lab.vm(on)) },
});
const NETWORK = { networkLayer: 'wireguard' as const, applications: { syncthing: { enable: true, sharedFolders: ['/shared/docs'] } } };

t.before(async () => {
  lab = await startLab('netlab-wg-', ['alice', 'bob', 'eve']);
});
t.after(async () => {
  await lab?.stop();
});

test('members reach each other over the VPN: ping and the service port', async () => {
  const [alice, bob, eve] = [lab.vm('alice'), lab.vm('bob'), lab.vm('eve')];
  const [a, b, e] = await Promise.all([entry('alice', 1), entry('bob', 2), entry('eve', 3)]);
  eveKey = e.wireguard!.publicKey;
  Object.assign(members, { alice: a, bob: b });
  writeLabConfigs(lab.configsPath, NETWORK, members);
  // Eve's own copy of configs.json lists her as a member: what she applies is what a member would.
  const evesCopy = path.join(lab.dir, 'eves-configs.json');
  writeLabConfigs(evesCopy, NETWORK, { ...members, eve: e });
  await Promise.all([lab.apply('alice'), lab.apply('bob'), lab.apply('eve', evesCopy)]);
  await Promise.all([serve(alice, MUMBLE_PORT), serve(bob, MUMBLE_PORT), serve(eve, MUMBLE_PORT)]);

  assert.ok(await pings(alice, address(2), 60), 'alice pings bob over wireguard');
  assert.ok(await pings(bob, address(1), 60), 'bob pings alice over wireguard');
  assert.is(await connect(bob, address(1), MUMBLE_PORT, 20), 'alice');
  assert.is(await connect(alice, address(2), MUMBLE_PORT, 20), 'bob');
  const peers = await alice.run(['wg', 'show', 'wg0', 'latest-handshakes']);
  assert.ok(peers.includes(b.wireguard!.publicKey), `alice's wg0 has handshaken with bob: ${peers}`);
});

test('eve reaches no service port of alice: not over the VPN, not on the LAN', async () => {
  const [alice, eve] = [lab.vm('alice'), lab.vm('eve')];
  const [ping, answer] = await Promise.all([
    pings(eve, address(1), 5),
    connect(eve, address(1), MUMBLE_PORT, 5),
    // On the LAN, alice's firewall sees eve's connections and refuses them.
    refusedByFirewall(eve, eve.lan, alice, alice.lan, MUMBLE_PORT),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, 22000),
  ]);
  assert.not.ok(ping, 'eve gets no answer from alice on the VPN');
  assert.is(answer, undefined, "eve reaches no port on alice's VPN address");
  const peers = await alice.run(['wg', 'show', 'wg0', 'peers']);
  assert.not.ok(peers.includes(eveKey), 'eve is no peer of alice');
});

test("a file put in alice's /shared/docs appears in bob's (syncthing over wireguard)", async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  await alice.writeFile('/shared/docs/hello.txt', 'from alice\n', 0o644);
  await bob.run(['netlab', 'wait-file', '/shared/docs/hello.txt'], 90_000);
  assert.is(await bob.readFile('/shared/docs/hello.txt'), 'from alice\n');
});

test('after bob is removed and the new config applied, bob reaches nothing of alice', async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  removeMember(lab.configsPath, 'bob');
  await lab.apply('alice'); // bob keeps his old configuration: he still believes he is a member
  const peers = await alice.run(['wg', 'show', 'wg0', 'peers']);
  assert.not.ok(peers.includes(members.bob!.wireguard!.publicKey), `bob is no longer alice's peer: ${peers}`);
  const [ping, mumble, syncthing] = await Promise.all([
    pings(bob, address(1), 5),
    connect(bob, address(1), MUMBLE_PORT, 5),
    connect(bob, address(1), 22000, 5),
    refusedByFirewall(bob, bob.lan, alice, alice.lan, MUMBLE_PORT),
  ]);
  assert.not.ok(ping, 'bob gets no answer from alice on the VPN');
  assert.is(mumble, undefined, "bob no longer reaches alice's mumble port");
  assert.is(syncthing, undefined, "bob no longer reaches alice's syncthing");
});

test('after carol (eve re-keyed) is admitted, carol reaches alice', async () => {
  const [alice, carol] = [lab.vm('alice'), lab.vm('eve')]; // eve's VM makes new keys and becomes carol
  addMember(lab.configsPath, 'carol', await entry('carol', 4, 'eve'));
  await Promise.all([lab.apply('alice'), lab.apply('carol', lab.configsPath, 'eve')]);
  assert.ok(await pings(carol, address(1), 60), 'carol pings alice over wireguard');
  assert.is(await connect(carol, address(1), MUMBLE_PORT, 20), 'alice');
});

t.run();
