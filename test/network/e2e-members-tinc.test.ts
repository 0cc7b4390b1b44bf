/**
 * A private network that is a network, over tinc 1.0, with real programs
 * between real VMs (net-lab.ts): alice and bob are members, eve sits on the
 * same LAN and even believes she is a member (her own copy of configs.json
 * lists her, so her tincd dials alice and bob with her own key); later eve's
 * VM makes a new key and is admitted as carol. Each VM makes its own RSA key; the test reads the public
 * ones, writes configs.json, evaluates each member's NixOS values and applies
 * them with the adapter (net-adapter.ts): tinc.conf, hosts/, tincd, the
 * interface's address, the nftables firewall, syncthing (devices dialled on
 * the members' tinc addresses; eve's dials alice too and gets nowhere).
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import fs from 'node:fs';
import type { MemberInput } from '../../networks/configs-schema.js';
import { admit, removeMember, writeNetworkConfigs } from '../harness/member-config.js';
import {
  connect, exists, GIT_PORT, makeIdentity, MUMBLE_PORT, NETWORK as CONFIG, pings, refusedByFirewall, serve, SHARED_FOLDER, startLab,
  SYNCTHING_PORT, syncs, syncthingDevices, syncthingIdentity, TINC_NETWORK as NET, type Lab, type LabVm,
} from '../harness/net-lab.js';

const t = suite('members over tinc, real VMs');
const test = bounded(t, 150_000);
let lab: Lab;
/** Each VM's syncthing device id (made inside it, once: eve's VM keeps hers as carol). */
const device: Partial<Record<LabVm, string>> = {};
const NETWORK = {
  networkLayer: 'tinc',
  tinc: { address: '10.77.0.1/24' },
  applications: { mumbleServer: { enable: true }, gitServer: { enable: true }, syncthing: { enable: true, sharedFolders: [SHARED_FOLDER] } },
};
const address = (index: number) => `10.77.0.${index}`;
const TINC_LOG = `/run/tinc.${NET}.log`;

/** Member `name`'s entry: its keys made inside the VM `on`, a VPN address, the VM's endpoint on the LAN. */
const entry = async (name: LabVm, index: number, serves: MemberInput['serves'] = [], on: LabVm = name): Promise<MemberInput> => {
  const [made, deviceId] = await Promise.all([makeIdentity(lab.vm(on), 'tinc', name), syncthingIdentity(lab.vm(on))]);
  device[on] = deviceId;
  return { address: address(index), endpoint: `${lab.vm(on).lan}:655`, serves, ...made.identity, syncthing: { deviceId } };
};

t.before(async () => {
  lab = await startLab('netlab-tinc-', ['alice', 'bob', 'eve']);
});
t.after(async () => {
  await lab?.stop();
});

test('members reach each other over tinc: ping and the service port', async () => {
  const [alice, bob, eve] = [lab.vm('alice'), lab.vm('bob'), lab.vm('eve')];
  const [a, b, e] = await Promise.all([entry('alice', 1, ['mumble']), entry('bob', 2, ['git']), entry('eve', 3)]);
  await writeNetworkConfigs(lab.dir, CONFIG, NETWORK, { alice: a, bob: b });
  // Eve's own checkout lists her as a member: what she applies is what a member would.
  const evesCheckout = path.join(lab.dir, 'eve-checkout');
  fs.mkdirSync(evesCheckout);
  await writeNetworkConfigs(evesCheckout, CONFIG, NETWORK, { alice: a, bob: b, eve: e });
  await Promise.all([lab.apply('alice'), lab.apply('bob'), lab.apply('eve', path.join(evesCheckout, 'configs.json'))]);
  await Promise.all([serve(alice, MUMBLE_PORT), serve(bob, GIT_PORT)]);

  assert.ok(await pings(alice, address(2), 60), 'alice pings bob over tinc');
  assert.ok(await pings(bob, address(1), 60), 'bob pings alice over tinc');
  assert.is(await connect(bob, address(1), MUMBLE_PORT, 20), 'alice');
  assert.is(await connect(alice, address(2), GIT_PORT, 20), 'bob');
});

test("a file put in alice's /shared/docs appears in bob's within 60 s (syncthing over tinc)", async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  assert.equal(await syncthingDevices(alice, device.alice!), [device.bob!], "alice's syncthing devices are the other members: bob");
  assert.is(await syncs(alice, bob, 'hello.txt'), 'from alice\n');
});

test('eve reaches no service port of alice, nor her syncthing: alice refuses her tinc identity, her firewall the LAN', async () => {
  const [alice, eve] = [lab.vm('alice'), lab.vm('eve')];
  const [ping, answer, sync] = await Promise.all([
    pings(eve, address(1), 5),
    connect(eve, address(1), MUMBLE_PORT, 5),
    connect(eve, address(1), SYNCTHING_PORT, 5),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, MUMBLE_PORT),
    refusedByFirewall(eve, eve.lan, alice, alice.lan, SYNCTHING_PORT),
  ]);
  assert.not.ok(ping, 'eve gets no answer from alice on the VPN');
  assert.is(answer, undefined, "eve reaches no port on alice's VPN address");
  assert.is(sync, undefined, "eve reaches not alice's syncthing port");
  // Eve's syncthing runs, configured from her own checkout, with alice as a device; alice's has no eve.
  assert.ok((await syncthingDevices(eve, device.eve!)).includes(device.alice!), "eve's syncthing would dial alice");
  assert.not.ok((await syncthingDevices(alice, device.alice!)).includes(device.eve!), 'eve is no syncthing device of alice');
  assert.not.ok(await exists(eve, `${SHARED_FOLDER}/hello.txt`), "alice's file, which bob has, is not in eve's folder");
  const log = await alice.readFile(TINC_LOG);
  assert.match(log, /unknown identity \(eve\)|unknown identity eve|Peer eve .* unknown/i, `alice's tincd refused eve: ${log.slice(-600)}`);
});

test('after bob is removed and the new config applied, bob reaches nothing of alice', async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  await removeMember(lab.dir, 'bob');
  await lab.apply('alice'); // bob keeps his old configuration: he still believes he is a member
  assert.is((await alice.exec(['ls', `/etc/tinc/${NET}/hosts/bob`])).code === 0, false, 'bob is no host of alice any more');
  assert.equal(await syncthingDevices(alice, device.alice!), [], 'bob is no syncthing device of alice any more');
  const [ping, mumble] = await Promise.all([
    pings(bob, address(1), 5),
    connect(bob, address(1), MUMBLE_PORT, 5),
    refusedByFirewall(bob, bob.lan, alice, alice.lan, MUMBLE_PORT),
  ]);
  assert.not.ok(ping, 'bob gets no answer from alice on the VPN');
  assert.is(mumble, undefined, "bob no longer reaches alice's mumble port");
});

test('after carol (eve re-keyed) is admitted, carol reaches alice', async () => {
  const [alice, carol] = [lab.vm('alice'), lab.vm('eve')]; // eve's VM makes a new key and becomes carol
  const { tinc } = (await makeIdentity(carol, 'tinc', 'carol')).identity;
  await admit(lab.dir, { v: 1, name: 'carol', endpoint: `${carol.lan}:655`, tinc: tinc!, syncthing: { deviceId: device.eve! } }, { address: address(4) });
  await Promise.all([lab.apply('alice'), lab.apply('carol', lab.configsPath, 'eve')]);
  assert.ok(await pings(carol, address(1), 60), 'carol pings alice over tinc');
  assert.is(await connect(carol, address(1), MUMBLE_PORT, 20), 'alice');
});

t.run();
