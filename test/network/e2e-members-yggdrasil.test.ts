/**
 * A private network that is a network, over yggdrasil, with real programs
 * between real VMs (net-lab.ts). Eve is the mesh's bootstrap peer that alice,
 * bob and carol dial: she IS in the mesh and can route to every member, so
 * only the members' firewalls (extraInputRules: members' addresses only) keep
 * her out. Each VM makes its own keys; the test reads the public ones, writes
 * configs.json, evaluates each member's NixOS values and applies them with the
 * adapter (net-adapter.ts): yggdrasil 0.4.7, the nftables firewall and
 * syncthing (devices dialled on the members' yggdrasil addresses). Eve's
 * syncthing, configured from her own copy of configs.json that lists her,
 * dials alice and is refused by alice's firewall.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import type { MemberInput } from '../../networks/configs-schema.js';
import { admit, removeMember, writeNetworkConfigs } from '../harness/member-config.js';
import { evaluatedMemberConfig } from '../harness/evaluate-member.js';
import { applySyncthing, applyYggdrasil } from '../harness/net-adapter.js';
import {
  connect, exists, firewallRefuses, GIT_PORT, makeIdentity, MUMBLE_PORT, NETWORK as CONFIG, pings, refusedByFirewall, serve, SHARED_FOLDER,
  startLab, SYNCTHING_PORT, syncs, syncthingDevices, syncthingIdentity, type Lab, type LabVm,
} from '../harness/net-lab.js';

const t = suite('members over yggdrasil, real VMs');
const test = bounded(t, 150_000);
let lab: Lab;
/** Each VM's yggdrasil address (derived from its key, inside the VM). */
const ygg: Partial<Record<LabVm, string>> = {};
/** Each VM's syncthing device id (made inside it). */
const device: Partial<Record<LabVm, string>> = {};
/** Every member entry as made, eve's too (her own copy of configs.json lists her). */
const entries: Partial<Record<LabVm, MemberInput>> = {};
const BOOTSTRAP_PORT = 12345;
const NETWORK = {
  networkLayer: 'yggdrasil',
  yggdrasil: { peers: [`tcp://192.168.77.3:${BOOTSTRAP_PORT}`] },
  applications: { mumbleServer: { enable: true }, gitServer: { enable: true }, syncthing: { enable: true, sharedFolders: [SHARED_FOLDER] } },
};

/** A VM's member entry: its keys made inside it; its VPN address is its yggdrasil address. alice runs mumble, bob git. */
const entry = async (name: LabVm, serves: MemberInput['serves'] = []): Promise<MemberInput> => {
  const [made, deviceId] = await Promise.all([makeIdentity(lab.vm(name), 'yggdrasil'), syncthingIdentity(lab.vm(name))]);
  ygg[name] = made.yggdrasilAddress!;
  device[name] = deviceId;
  return (entries[name] = { address: made.yggdrasilAddress!, serves, ...made.identity, syncthing: { deviceId } });
};

t.before(async () => {
  lab = await startLab('netlab-ygg-');
});
t.after(async () => {
  await lab?.stop();
});

test('members reach each other through the mesh: ping and the service port', async () => {
  const [alice, bob, eve] = [lab.vm('alice'), lab.vm('bob'), lab.vm('eve')];
  const [a, b] = await Promise.all([entry('alice', ['mumble']), entry('bob', ['git']), entry('eve')]);
  // Eve runs the bootstrap node: she listens on the LAN, accepts anyone, has no firewall.
  await applyYggdrasil(eve, { Listen: [`tcp://0.0.0.0:${BOOTSTRAP_PORT}`], Peers: [], AllowedPublicKeys: [], MulticastInterfaces: [], IfName: 'ygg0' });
  await writeNetworkConfigs(lab.dir, CONFIG, NETWORK, { alice: a, bob: b });
  await Promise.all([lab.apply('alice'), lab.apply('bob')]);
  await Promise.all([serve(alice, MUMBLE_PORT), serve(bob, GIT_PORT)]);

  assert.ok(await pings(alice, ygg.bob!, 90), 'alice pings bob through the mesh');
  assert.ok(await pings(bob, ygg.alice!, 60), 'bob pings alice through the mesh');
  assert.is(await connect(bob, ygg.alice!, MUMBLE_PORT, 20), 'alice');
  assert.is(await connect(alice, ygg.bob!, GIT_PORT, 20), 'bob');
});

test("a file put in alice's /shared/docs appears in bob's within 60 s (syncthing over the mesh)", async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  assert.equal(await syncthingDevices(alice, device.alice!), [device.bob!], "alice's syncthing devices are the other members: bob");
  assert.is(await syncs(alice, bob, 'hello.txt'), 'from alice\n');
});

test("eve, in the mesh, reaches no service port of alice's: alice's firewall refuses her, her syncthing too", async () => {
  const [alice, eve] = [lab.vm('alice'), lab.vm('eve')];
  assert.ok(await pings(eve, ygg.alice!, 60), 'eve routes to alice through the mesh (NixOS accepts ICMPv6 from anyone)');
  // Eve's own checkout lists her as a member: her syncthing, set up as a member's would be, dials alice.
  const evesCheckout = path.join(lab.dir, 'eve-checkout');
  fs.mkdirSync(evesCheckout);
  await writeNetworkConfigs(evesCheckout, CONFIG, NETWORK, { alice: entries.alice!, bob: entries.bob!, eve: entries.eve! });
  const evesSyncthing = (await evaluatedMemberConfig(path.join(evesCheckout, 'configs.json'), 'eve')).services.syncthing?.settings;
  assert.ok(evesSyncthing?.devices.alice, "eve's own config makes alice a device of hers");
  const dialRefused = firewallRefuses(alice, ygg.eve!, ygg.alice!, SYNCTHING_PORT);
  await applySyncthing(eve, evesSyncthing);
  await Promise.all([
    dialRefused,
    refusedByFirewall(eve, ygg.eve!, alice, ygg.alice!, MUMBLE_PORT),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, MUMBLE_PORT),
  ]);
  assert.not.ok((await syncthingDevices(alice, device.alice!)).includes(device.eve!), 'eve is no syncthing device of alice');
  assert.not.ok(await exists(eve, `${SHARED_FOLDER}/hello.txt`), "alice's file, which bob has, is not in eve's folder");
});

test('after bob is removed and the new config applied, bob reaches no service of alice', async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  await removeMember(lab.dir, 'bob');
  await lab.apply('alice'); // bob keeps his old configuration and stays in the mesh
  const rules = await alice.run(['nft', 'list', 'chain', 'inet', 'nixos-fw', 'input-allow']);
  assert.not.ok(rules.includes(ygg.bob!), `alice's firewall no longer names bob: ${rules}`);
  assert.equal(await syncthingDevices(alice, device.alice!), [], 'bob is no syncthing device of alice any more');
  // Alice's yggdrasil restarted with her new settings: await the mesh's path to her again (ICMPv6 passes
  // her firewall) so that bob's connections below do reach her firewall, and are refused there.
  assert.ok(await pings(bob, ygg.alice!, 90), 'bob, still in the mesh, routes to alice');
  await Promise.all([
    refusedByFirewall(bob, ygg.bob!, alice, ygg.alice!, MUMBLE_PORT),
    refusedByFirewall(bob, bob.lan, alice, alice.lan, MUMBLE_PORT),
  ]);
});

test('after carol is admitted, carol reaches alice', async () => {
  const [alice, carol] = [lab.vm('alice'), lab.vm('carol')];
  const { yggdrasil, syncthing } = await entry('carol');
  await admit(lab.dir, { v: 1, name: 'carol', yggdrasil: yggdrasil!, syncthing: syncthing! }, { address: ygg.carol! });
  await Promise.all([lab.apply('alice'), lab.apply('carol')]);
  assert.ok(await pings(carol, ygg.alice!, 90), 'carol pings alice through the mesh');
  assert.is(await connect(carol, ygg.alice!, MUMBLE_PORT, 20), 'alice');
});

t.run();
