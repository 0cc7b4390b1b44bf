/**
 * The network's shared folder over real syncthing between two real member VMs
 * (net-lab.ts) on WireGuard: each VM makes its keys and syncthing device, the
 * test writes configs.json with both, evaluates each member's NixOS values and
 * applies them with the adapter (net-adapter.ts: wireguard, the firewall,
 * syncthing's config.xml). A file put in alice's /shared/docs appears in bob's.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { MemberInput } from '../../networks/configs-schema.js';
import { bounded } from '../harness/bounded.js';
import { writeNetworkConfigs } from '../harness/member-config.js';
import { makeIdentity, NETWORK as CONFIG, pings, startLab, syncthingIdentity, type Lab, type LabVm } from '../harness/net-lab.js';

const t = suite('syncthing between members over wireguard, real VMs');
const test = bounded(t, 150_000);
let lab: Lab;
const NETWORK = {
  networkLayer: 'wireguard',
  wireguard: { address: '10.77.0.1/24' },
  applications: { syncthing: { enable: true, sharedFolders: ['/shared/docs'] } },
};

const member = async (on: LabVm, index: number): Promise<MemberInput> => ({
  address: `10.77.0.${index}`,
  endpoint: `${lab.vm(on).lan}:51820`,
  ...(await makeIdentity(lab.vm(on), 'wireguard')).identity,
  syncthing: { deviceId: await syncthingIdentity(lab.vm(on)) },
});

t.before(async () => {
  lab = await startLab('netlab-st-', ['alice', 'bob']);
});
t.after(async () => {
  await lab?.stop();
});

test("a file put in alice's /shared/docs appears in bob's", async () => {
  const [alice, bob] = [lab.vm('alice'), lab.vm('bob')];
  const [a, b] = await Promise.all([member('alice', 1), member('bob', 2)]);
  await writeNetworkConfigs(lab.dir, CONFIG, NETWORK, { alice: a, bob: b });
  await Promise.all([lab.apply('alice'), lab.apply('bob')]);
  assert.ok(await pings(alice, '10.77.0.2', 60), 'alice pings bob over wireguard');
  await alice.writeFile('/shared/docs/hello.txt', 'from alice\n', 0o644);
  await bob.run(['netlab', 'wait-file', '/shared/docs/hello.txt'], 90_000);
  assert.is(await bob.readFile('/shared/docs/hello.txt'), 'from alice\n');
});

t.run();
