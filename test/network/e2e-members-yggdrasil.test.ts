/**
 * A private network that is a network, over yggdrasil, with real programs
 * between real VMs (net-lab.ts). Eve is the mesh's bootstrap peer that alice,
 * bob and carol dial: she IS in the mesh and can route to every member, so
 * only the members' firewalls (extraInputRules: members' addresses only) keep
 * her out. Each VM makes its own keys; the test reads the public ones, writes
 * configs.json, evaluates each member's NixOS values and applies them with the
 * adapter (net-adapter.ts): yggdrasil 0.4.7 and the nftables firewall.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import type { MemberInput } from '../../networks/configs-schema.js';
import { admit, removeMember, writeNetworkConfigs } from '../harness/member-config.js';
import { applyYggdrasil } from '../harness/net-adapter.js';
import {
  connect, GIT_PORT, makeIdentity, MUMBLE_PORT, NETWORK as CONFIG, pings, refusedByFirewall, serve, startLab, type Lab, type LabVm,
} from '../harness/net-lab.js';

const t = suite('members over yggdrasil, real VMs');
const test = bounded(t, 150_000);
let lab: Lab;
/** Each VM's yggdrasil address (derived from its key, inside the VM). */
const ygg: Partial<Record<LabVm, string>> = {};
const BOOTSTRAP_PORT = 12345;
const NETWORK = {
  networkLayer: 'yggdrasil',
  yggdrasil: { peers: [`tcp://192.168.77.3:${BOOTSTRAP_PORT}`] },
  applications: { mumbleServer: { enable: true }, gitServer: { enable: true } },
};

/** A VM's member entry: its key made inside it; its VPN address is its yggdrasil address. alice runs mumble, bob git. */
const entry = async (name: LabVm, serves: MemberInput['serves'] = []): Promise<MemberInput> => {
  const made = await makeIdentity(lab.vm(name), 'yggdrasil');
  ygg[name] = made.yggdrasilAddress!;
  return { address: made.yggdrasilAddress!, serves, ...made.identity };
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

test("eve, in the mesh, reaches no service port of alice's: alice's firewall refuses her", async () => {
  const [alice, eve] = [lab.vm('alice'), lab.vm('eve')];
  assert.ok(await pings(eve, ygg.alice!, 60), 'eve routes to alice through the mesh (NixOS accepts ICMPv6 from anyone)');
  await Promise.all([
    refusedByFirewall(eve, ygg.eve!, alice, ygg.alice!, MUMBLE_PORT),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, MUMBLE_PORT),
  ]);
});

test('after bob is removed and the new config applied, bob reaches no service of alice', async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  await removeMember(lab.dir, 'bob');
  await lab.apply('alice'); // bob keeps his old configuration and stays in the mesh
  const rules = await alice.run(['nft', 'list', 'chain', 'inet', 'nixos-fw', 'input-allow']);
  assert.not.ok(rules.includes(ygg.bob!), `alice's firewall no longer names bob: ${rules}`);
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
  const { yggdrasil } = await entry('carol');
  await admit(lab.dir, { v: 1, name: 'carol', yggdrasil: yggdrasil! }, { address: ygg.carol! });
  await Promise.all([lab.apply('alice'), lab.apply('carol')]);
  assert.ok(await pings(carol, ygg.alice!, 90), 'carol pings alice through the mesh');
  assert.is(await connect(carol, ygg.alice!, MUMBLE_PORT, 20), 'alice');
});

t.run();
