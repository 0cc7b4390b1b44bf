/**
 * The network lab of the member tests: four network guests on one private LAN
 * — alice and bob (members), eve (on the LAN, not a member), carol (admitted
 * later) — their public identities read from inside the VMs, configs.json
 * written from them, and the probes the tests assert with: ping, a TCP
 * connection to a service port (a busybox nc listener that answers with the
 * hostname), the firewall's "refused connection" log line on the serial console.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluatedMemberConfig } from './evaluate-member.js';
import { startLanHub, type LanHub } from './lan-hub.js';
import type { Identity } from '../../networks/join-request.js';
import { applyMemberConfig } from './net-adapter.js';
import { ensureNetGuest } from './net-guest.js';
import { startNetVm, type NetVm } from './net-vm.js';
import { REFUSED_PREFIX } from './nixos-firewall.js';
import { guestExit } from './records.js';

export const LAB_VMS = ['alice', 'bob', 'eve', 'carol'] as const;
export type LabVm = (typeof LAB_VMS)[number];
/** The ports of what members serve (nix/lib/service-settings.nix): murmur, forgejo. */
export const MUMBLE_PORT = 64738;
export const GIT_PORT = 3000;
export const SYNCTHING_PORT = 22000;
/** The network config's name in the test's configs.json. */
export const NETWORK = 'lab';
/** The tinc network member-config.nix sets up (services.tinc.networks.hiboss): where the VM makes its key. */
export const TINC_NETWORK = 'hiboss';

export interface Lab {
  readonly dir: string;
  /** The network checkout (its configs.json: `configsPath`). */
  readonly configsPath: string;
  /** The VMs booted (startLab's `names`). */
  readonly vms: { readonly [K in LabVm]?: NetVm };
  /** The VM named so; an error if it was not booted. */
  vm(name: LabVm): NetVm;
  /** Evaluates configs.json (or another copy) for `member` and applies it to the VM `onto` (the member's own by default). */
  apply(member: LabVm, configsPath?: string, onto?: LabVm): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Boots `names` (in parallel) on one LAN; each VM's LAN address is 192.168.77.N, N its place in LAB_VMS.
 * A test that re-keys a VM as another member (eve as carol) boots fewer.
 */
export async function startLab(prefix: string, names: readonly LabVm[] = LAB_VMS): Promise<Lab> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  const guest = await ensureNetGuest();
  let hub: LanHub | undefined;
  const started: NetVm[] = [];
  const stop = async () => {
    await Promise.allSettled(started.map((vm) => vm.stop()));
    await hub?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    hub = await startLanHub(path.join(dir, 'lan.sock'));
    const booted = await Promise.all(names.map(async (name) => {
      const vm = await startNetVm(dir, guest, hub!, { name, index: LAB_VMS.indexOf(name) + 1 });
      started.push(vm);
      return vm;
    }));
    const vms = Object.fromEntries(booted.map((vm) => [vm.name, vm])) as { [K in LabVm]?: NetVm };
    const configsPath = path.join(dir, 'configs.json');
    const vm = (name: LabVm) => {
      const found = vms[name];
      if (!found) throw new Error(`${name} was not booted in this lab`);
      return found;
    };
    return {
      dir,
      configsPath,
      vms,
      vm,
      async apply(member, from = configsPath, onto = member) {
        await applyMemberConfig(vm(onto), await evaluatedMemberConfig(from, member));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The public identity `vm` makes for the layer as member `as` (private keys stay in the VM; a new one each time). */
export async function makeIdentity(vm: NetVm, layer: 'wireguard' | 'yggdrasil' | 'tinc', as = vm.name): Promise<{ identity: Partial<Identity>; yggdrasilAddress?: string }> {
  switch (layer) {
    case 'wireguard':
      return { identity: { wireguard: { publicKey: (await vm.run(['netlab', 'identity-wireguard'])).trim() } } };
    case 'yggdrasil': {
      const [publicKey, address] = (await vm.run(['netlab', 'identity-yggdrasil'])).trim().split(' ');
      return { identity: { yggdrasil: { publicKey: publicKey! } }, yggdrasilAddress: address! };
    }
    case 'tinc':
      return { identity: { tinc: { rsaPublicKey: await vm.run(['netlab', 'identity-tinc', TINC_NETWORK, as], 120_000) } } };
    default: {
      const unknown: never = layer;
      throw new Error(`no identity for layer ${String(unknown)}`);
    }
  }
}

export async function syncthingIdentity(vm: NetVm): Promise<string> {
  return (await vm.run(['netlab', 'identity-syncthing'])).trim();
}

/** The network's shared folder in the member tests (applications.syncthing.sharedFolders). */
export const SHARED_FOLDER = '/shared/docs';
/**
 * Puts `name` in `from`'s shared folder and awaits it in `to`'s: the VM's `netlab wait-file` looks for it
 * every 0.1 s from the moment the write returned and gives up after 60 s (600 looks), the proof's bound.
 * The file's content as `to` has it.
 */
export async function syncs(from: NetVm, to: NetVm, name: string): Promise<string> {
  const file = `${SHARED_FOLDER}/${name}`;
  await from.writeFile(file, `from ${from.name}\n`, 0o644);
  const waited = await to.exec(['netlab', 'wait-file', file], 90_000);
  if (waited.code !== 0) throw new Error(`${to.name} has no ${file} from ${from.name} after 60 s\n${await syncthingLogs([from, to])}`);
  return to.readFile(file);
}

/** The last lines of each VM's syncthing log, for a failure message: what each side dialed, accepted or refused. */
async function syncthingLogs(vms: readonly NetVm[]): Promise<string> {
  const tails = await Promise.all(vms.map(async (vm) => {
    const tail = await vm.exec(['tail', '-n', '40', '/run/syncthing.log']);
    return `--- ${vm.name}: /run/syncthing.log\n${(tail.stdout || tail.stderr).trim()}`;
  }));
  return tails.join('\n');
}

/** Whether `vm` has `path` (a file the test expects to be absent, e.g. in a non-member's shared folder). */
export async function exists(vm: NetVm, file: string): Promise<boolean> {
  return (await vm.exec(['ls', file])).code === 0;
}

/** The device ids in `vm`'s syncthing config (as the adapter wrote it, or syncthing kept it), but its own `ownId`. */
export async function syncthingDevices(vm: NetVm, ownId: string): Promise<string[]> {
  const xml = await vm.readFile('/var/lib/syncthing/config.xml');
  return [...new Set([...xml.matchAll(/<device id="([A-Z2-7-]{63})"/g)].map((m) => m[1]!))].filter((id) => id !== ownId);
}

/** A service on `port` answering every connection with the VM's hostname. */
export async function serve(vm: NetVm, port: number): Promise<void> {
  await vm.spawn(['nc', '-ll', '-p', String(port), '-e', 'hostname']);
}

/** Resolves true at the first echo reply (a request every second), false if none came within `seconds`. */
export async function pings(from: NetVm, address: string, seconds: number): Promise<boolean> {
  return (await from.exec(['netlab', 'ping', address, String(seconds)], (seconds + 30) * 1000)).code === 0;
}

/** Connects to address:port: the answering host's name, or undefined when no connection was made within `seconds`. */
export async function connect(from: NetVm, address: string, port: number, seconds: number): Promise<string | undefined> {
  const result = await from.exec(['nc', '-w', String(seconds), address, String(port)], (seconds + 30) * 1000);
  return result.code === 0 && result.stdout.trim() ? result.stdout.trim() : undefined;
}

/** An IPv6 address as the kernel's log prints it: eight groups of four hex digits. */
export function kernelLogAddress(address: string): string {
  if (!address.includes(':')) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return groups.map((g) => g.padStart(4, '0')).join(':');
}

/**
 * Connects from `from` to `to`'s address:port, which must fail, and awaits `to`'s firewall logging that very
 * connection as refused (so the packet arrived and the firewall, not a lost route, kept it out). The firewall
 * drops what it refuses, so the connecting nc could only time out once that is logged: it is ended then,
 * and its outcome still says whether it reached `to`.
 */
export async function refusedByFirewall(from: NetVm, fromAddress: string, to: NetVm, toAddress: string, port: number): Promise<string> {
  const logged = firewallRefuses(to, fromAddress, toAddress, port);
  const argv = ['nc', '-w', '5', toAddress, String(port)];
  const { pid } = await from.agent.execute('guest-exec', { path: argv[0]!, arg: argv.slice(1), 'capture-output': true });
  const outcome = guestExit(from.agent, pid, argv, 35_000);
  outcome.catch(() => undefined); // awaited below on every path but a failed log wait
  const reached = (run: { code: number; stdout: string }) => {
    if (run.code === 0 && run.stdout.trim()) throw new Error(`${from.name} reached ${to.name}'s ${toAddress}:${port} (answered ${run.stdout.trim()})`);
  };
  const first = await Promise.race([logged.then((line) => ({ line })), outcome.then((run) => ({ run }))]);
  if ('run' in first) {
    reached(first.run);
    return await logged;
  }
  await from.exec(['kill', String(pid)]); // gone already if it timed out meanwhile: that is fine
  reached(await outcome);
  return first.line;
}

/**
 * Awaits `to`'s firewall logging a connection from fromAddress to toAddress:port as refused, from now on
 * (call it before whatever makes that connection); at most 60 s.
 */
export async function firewallRefuses(to: NetVm, fromAddress: string, toAddress: string, port: number): Promise<string> {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const [line = ''] = await to.awaitSerial(
    new RegExp(`${literal(REFUSED_PREFIX)}.*SRC=${literal(kernelLogAddress(fromAddress))} DST=${literal(kernelLogAddress(toAddress))} .*DPT=${port} `),
    60_000,
    to.serialLength(),
  );
  return line;
}
