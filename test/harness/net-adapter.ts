/**
 * The network tests' only adapter from NixOS option values to running
 * programs: given what nix/lib/member-config.nix evaluates for a member
 * (evaluate-member.ts), it configures that member's VM the way the NixOS
 * modules would — /etc/hosts, the nftables firewall, the wireguard interface
 * (as NixOS's wireguard-IFNAME service: ip link / wg set / routes), yggdrasil,
 * tincd and its interface address (networking.interfaces), syncthing. A
 * program whose settings did not change is left running; one whose settings
 * changed is restarted (what a NixOS switch does); one no longer configured is
 * stopped. Everything goes in as argv or a file write through the guest agent.
 */
import type { EvaluatedMember } from './member-config.js';
import type { NetVm } from './net-vm.js';
import { nftablesRuleset } from './nixos-firewall.js';
import { hostsFile, syncthingConfigXml, tincConf, tincHostFile } from './program-configs.js';

type Daemon = 'yggdrasil' | 'tincd' | 'syncthing';

interface VmState {
  /** The settings each part was last applied with (JSON), to restart only what changed. */
  applied: Map<string, string>;
  pids: Map<Daemon, number>;
  wireguardInterfaces: Set<string>;
}

const states = new WeakMap<NetVm, VmState>();

function stateOf(vm: NetVm): VmState {
  let state = states.get(vm);
  if (!state) states.set(vm, (state = { applied: new Map(), pids: new Map(), wireguardInterfaces: new Set() }));
  return state;
}

/** Applies `part` with `apply` when `value` differs from what it was last applied with; remembered once it succeeded. */
async function whenChanged(state: VmState, part: string, value: unknown, apply: () => Promise<void>): Promise<void> {
  const json = JSON.stringify(value ?? null);
  if (state.applied.get(part) === json) return;
  state.applied.delete(part); // a failure half-way leaves it "unknown": the next apply redoes it
  await apply();
  state.applied.set(part, json);
}

async function stopDaemon(vm: NetVm, daemon: Daemon): Promise<void> {
  const state = stateOf(vm);
  const pid = state.pids.get(daemon);
  if (pid === undefined) return;
  await vm.run(['netlab', 'stop', String(pid)]);
  state.pids.delete(daemon);
}

async function startDaemon(vm: NetVm, daemon: Daemon, argv: string[]): Promise<void> {
  stateOf(vm).pids.set(daemon, await vm.spawn(argv));
}

export async function applyMemberConfig(vm: NetVm, evaluated: EvaluatedMember): Promise<void> {
  const state = stateOf(vm);
  const { networking, services } = evaluated;
  await whenChanged(state, 'hosts', networking.hosts, () => vm.writeFile('/etc/hosts', hostsFile(networking.hosts), 0o644));
  await whenChanged(state, 'firewall', [networking.firewall, networking.nftables], async () => {
    // Without networking.nftables.enable NixOS builds the same firewall with iptables (chain nixos-fw: lo,
    // established, the allowed ports per interface, refused connections logged, the rest refused); the guest
    // has nftables only, so both are loaded as nftables' rules. extraInputRules are nftables text: NixOS
    // refuses them on the iptables firewall, and so does the adapter.
    if (networking.firewall?.extraInputRules && networking.nftables?.enable !== true) {
      throw new Error(`${vm.name}: networking.firewall.extraInputRules needs networking.nftables.enable`);
    }
    await vm.writeFile('/etc/nftables.conf', networking.firewall?.enable === false ? 'flush ruleset\n' : nftablesRuleset(networking.firewall));
    await vm.run(['nft', '-f', '/etc/nftables.conf']);
  });
  await whenChanged(state, 'wireguard', networking.wireguard, () => applyWireguard(vm, state, networking.wireguard?.interfaces ?? {}));
  await whenChanged(state, 'yggdrasil', services.yggdrasil, () => applyYggdrasil(vm, services.yggdrasil?.settings));
  await whenChanged(state, 'tinc', [services.tinc, networking.interfaces], () => applyTinc(vm, services.tinc?.networks ?? {}, networking.interfaces ?? {}));
  await whenChanged(state, 'syncthing', services.syncthing, () => applySyncthing(vm, services.syncthing?.settings));
}

type WireguardInterfaces = NonNullable<EvaluatedMember['networking']['wireguard']>['interfaces'];

async function applyWireguard(vm: NetVm, state: VmState, interfaces: WireguardInterfaces): Promise<void> {
  for (const name of state.wireguardInterfaces) await vm.run(['ip', 'link', 'del', 'dev', name]);
  state.wireguardInterfaces.clear();
  for (const [name, wg] of Object.entries(interfaces)) {
    if (wg.privateKeyFile === undefined) throw new Error(`${vm.name}: ${name} has no privateKeyFile (the key is made in the VM)`);
    await vm.run(['ip', 'link', 'add', 'dev', name, 'type', 'wireguard']);
    state.wireguardInterfaces.add(name);
    for (const ip of wg.ips) await vm.run(['ip', 'address', 'add', ip, 'dev', name]);
    await vm.run(['wg', 'set', name, 'private-key', wg.privateKeyFile, ...(wg.listenPort === undefined ? [] : ['listen-port', String(wg.listenPort)])]);
    await vm.run(['ip', 'link', 'set', 'up', 'dev', name]);
    for (const peer of wg.peers) {
      await vm.run([
        'wg', 'set', name, 'peer', peer.publicKey,
        ...(peer.endpoint === undefined ? [] : ['endpoint', peer.endpoint]),
        ...(peer.persistentKeepalive === undefined ? [] : ['persistent-keepalive', String(peer.persistentKeepalive)]),
        'allowed-ips', peer.allowedIPs.join(','),
      ]);
      for (const cidr of peer.allowedIPs) await vm.run(['ip', 'route', 'replace', cidr, 'dev', name]);
    }
  }
}

type YggdrasilSettings = NonNullable<EvaluatedMember['services']['yggdrasil']>['settings'];

/** As NixOS's yggdrasil service: the settings (no keys) merged with the VM's own keys, then the daemon. */
export async function applyYggdrasil(vm: NetVm, settings: YggdrasilSettings | undefined): Promise<void> {
  await stopDaemon(vm, 'yggdrasil');
  if (settings === undefined) return;
  await vm.run(['mkdir', '-p', '/etc/yggdrasil']);
  await vm.writeFile('/etc/yggdrasil/settings.json', JSON.stringify({ AdminListen: 'none', ...settings }) + '\n');
  await vm.run(['netlab', 'yggdrasil-config']);
  await startDaemon(vm, 'yggdrasil', ['yggdrasil', '-useconffile', '/run/yggdrasil/yggdrasil.conf', '-logto', '/run/yggdrasil.log']);
  if (settings.IfName !== undefined && settings.IfName !== 'none') await vm.run(['netlab', 'wait-link', settings.IfName]);
}

type TincNetworks = NonNullable<EvaluatedMember['services']['tinc']>['networks'];
type Interfaces = NonNullable<EvaluatedMember['networking']['interfaces']>;

async function applyTinc(vm: NetVm, networks: TincNetworks, interfaces: Interfaces): Promise<void> {
  await stopDaemon(vm, 'tincd');
  const entries = Object.entries(networks);
  if (entries.length > 1) throw new Error(`${vm.name}: the adapter runs one tinc network, not ${entries.length}`);
  for (const [net, network] of entries) {
    const dir = `/etc/tinc/${net}`;
    await vm.run(['mkdir', '-p', `${dir}/hosts`]);
    await vm.run(['find', `${dir}/hosts`, '-type', 'f', '-exec', 'rm', '{}', '+']); // hosts no longer in the network go
    await vm.writeFile(`${dir}/tinc.conf`, tincConf(net, network));
    for (const [host, settings] of Object.entries(network.hostSettings)) {
      await vm.writeFile(`${dir}/hosts/${host}`, tincHostFile(settings));
      // The member's own public key is not in the evaluation: NixOS's activation adds it from the VM's key.
      if (host === network.name && settings.rsaPublicKey === undefined) await vm.run(['netlab', 'tinc-own-key', net, host]);
    }
    await startDaemon(vm, 'tincd', ['tincd', '-n', net, '-D', '-d', '2', `--logfile=/run/tinc.${net}.log`]);
    const ifname = `tinc.${net}`;
    await vm.run(['netlab', 'wait-link', ifname]);
    // networking.interfaces.<ifname>: NixOS's network-addresses-<ifname> service.
    for (const address of interfaces[ifname]?.ipv4.addresses ?? []) {
      await vm.run(['ip', 'address', 'add', `${address.address}/${address.prefixLength}`, 'dev', ifname]);
    }
    await vm.run(['ip', 'link', 'set', 'up', 'dev', ifname]);
  }
}

type SyncthingSettings = NonNullable<EvaluatedMember['services']['syncthing']>['settings'];

/** As NixOS's syncthing service: config.xml from the settings (the device key made in the VM), then the daemon. */
export async function applySyncthing(vm: NetVm, settings: SyncthingSettings | undefined): Promise<void> {
  await stopDaemon(vm, 'syncthing');
  if (settings === undefined) return;
  const home = '/var/lib/syncthing';
  const generated = await vm.readFile(`${home}/config.xml`);
  const version = Number(/<configuration version="(\d+)"/.exec(generated)?.[1]);
  if (!Number.isInteger(version)) throw new Error(`${vm.name}: no config version in syncthing's generated config.xml`);
  for (const folder of Object.values(settings.folders)) await vm.run(['mkdir', '-p', `${folder.path}/.stfolder`]);
  await vm.writeFile(`${home}/config.xml`, syncthingConfigXml(settings, version));
  await startDaemon(vm, 'syncthing', ['syncthing', 'serve', `--home=${home}`, '--no-browser', '--no-restart', '--logfile=/run/syncthing.log']);
}
