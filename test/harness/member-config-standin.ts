/**
 * STAND-IN for nix/lib/member-config.nix (being written on the `members`
 * branch): the NixOS option values one member gets from configs.json's
 * `members`, in the agreed shape (member-config.ts EvaluatedMember). The
 * network tests use it until the Nix function is on main; then
 * evaluatedMemberConfig calls nix-instantiate and this file goes.
 * test/fixtures/members/ holds one evaluation of it, to compare the two.
 *
 * Choices this stand-in makes (the real function may differ; the adapter
 * reads both): interface names wg0 / ygg0 / tinc.<config>; VPN address = the
 * member's `address` (a /24 for wireguard and tinc); each member's services
 * (`serves`, and syncthing) open on the VPN interface only — on yggdrasil, where
 * everyone in the mesh can route to us, only from members' addresses
 * (extraInputRules); the layer's listen port open on the LAN.
 */
import { networkOf, type Member, type MembersConfigs } from './member-config.js';

/** The ports of what a member may serve, and syncthing's. */
export const SERVICE_PORTS: Readonly<Record<string, number>> = { mumble: 64738 };
export const SYNCTHING_PORT = 22000;
export const WIREGUARD_PORT = 51820;
export const TINC_PORT = 655;

function splitEndpoint(endpoint: string): { address: string; port?: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(endpoint);
  if (!match) throw new Error(`not HOST:PORT: ${endpoint}`);
  return match[2] === undefined ? { address: match[1]! } : { address: match[1]!, port: Number(match[2]) };
}

function servicePorts(member: Member, syncthing: boolean): number[] {
  const ports = (member.serves ?? []).map((service) => {
    const port = SERVICE_PORTS[service];
    if (port === undefined) throw new Error(`unknown service ${service}`);
    return port;
  });
  return [...(syncthing ? [SYNCTHING_PORT] : []), ...ports].sort((a, b) => a - b);
}

export function standInMemberConfig(configs: MembersConfigs, self: string): unknown {
  const { name: networkName, config: network } = networkOf(configs);
  const members = network.members;
  const me = members[self];
  if (!me) throw new Error(`${self} is not a member`);
  const others = Object.entries(members).filter(([name]) => name !== self);
  const syncthingOn = network.applications?.syncthing?.enable === true;
  const ports = servicePorts(me, syncthingOn);
  const hosts = Object.fromEntries(others.map(([name, member]) => [member.address, [name]]));
  const networking: Record<string, unknown> = { nftables: { enable: true }, hosts };
  const services: Record<string, unknown> = {};
  const layer = network.networkLayer;

  switch (layer) {
    case 'wireguard': {
      networking.wireguard = {
        interfaces: {
          wg0: {
            ips: [`${me.address}/24`],
            listenPort: WIREGUARD_PORT,
            privateKeyFile: '/var/lib/hiboss/wireguard.key',
            peers: others.map(([name, member]) => {
              if (!member.wireguard) throw new Error(`${name} has no wireguard key`);
              return {
                publicKey: member.wireguard.publicKey,
                allowedIPs: [`${member.address}/32`],
                ...(member.endpoint ? { endpoint: member.endpoint } : {}),
                persistentKeepalive: 25,
              };
            }),
          },
        },
      };
      networking.firewall = { allowedUDPPorts: [WIREGUARD_PORT], interfaces: { wg0: { allowedTCPPorts: ports } } };
      break;
    }
    case 'yggdrasil': {
      services.yggdrasil = {
        settings: {
          Peers: network.yggdrasil?.peers ?? [],
          Listen: [],
          AllowedPublicKeys: others.map(([name, member]) => {
            if (!member.yggdrasil) throw new Error(`${name} has no yggdrasil key`);
            return member.yggdrasil.publicKey;
          }),
          MulticastInterfaces: [],
          IfName: 'ygg0',
        },
      };
      const sources = others.map(([, member]) => member.address);
      networking.firewall = {
        extraInputRules: sources.length && ports.length
          ? `iifname "ygg0" ip6 saddr { ${sources.join(', ')} } tcp dport { ${ports.join(', ')} } accept`
          : '',
      };
      break;
    }
    case 'tinc': {
      const ifname = `tinc.${networkName}`;
      const hostSettings = Object.fromEntries(Object.entries(members).map(([name, member]) => {
        if (!member.tinc) throw new Error(`${name} has no tinc key`);
        const endpoint = member.endpoint ? splitEndpoint(member.endpoint) : undefined;
        return [name, {
          addresses: endpoint ? [endpoint] : [],
          subnets: [{ address: member.address, prefixLength: 32 }],
          rsaPublicKey: member.tinc.rsaPublicKey,
        }];
      }));
      services.tinc = {
        networks: {
          [networkName]: {
            name: self,
            hostSettings,
            settings: { ConnectTo: others.filter(([, member]) => member.endpoint).map(([name]) => name) },
          },
        },
      };
      networking.interfaces = { [ifname]: { ipv4: { addresses: [{ address: me.address, prefixLength: 24 }] } } };
      networking.firewall = {
        allowedTCPPorts: [TINC_PORT],
        allowedUDPPorts: [TINC_PORT],
        interfaces: { [ifname]: { allowedTCPPorts: ports } },
      };
      break;
    }
    case 'zerotier':
      throw new Error('the stand-in evaluates wireguard, yggdrasil and tinc members, not zerotier');
    default: {
      const unknown: never = layer;
      throw new Error(`unknown layer ${String(unknown)}`);
    }
  }

  if (syncthingOn) {
    const folders = network.applications?.syncthing?.sharedFolders ?? [];
    const sharing = others.filter(([, member]) => member.syncthing);
    services.syncthing = {
      settings: {
        devices: Object.fromEntries(sharing.map(([name, member]) => [
          name,
          { id: member.syncthing!.deviceId, addresses: [`tcp://[${member.address}]:${SYNCTHING_PORT}`] },
        ])),
        folders: Object.fromEntries(folders.map((folder) => [
          folder.split('/').filter(Boolean).pop()!,
          { path: folder, devices: sharing.map(([name]) => name) },
        ])),
        options: {
          listenAddresses: [`tcp://:${SYNCTHING_PORT}`],
          globalAnnounceEnabled: false,
          localAnnounceEnabled: false,
          relaysEnabled: false,
          natEnabled: false,
          urAccepted: -1,
        },
      },
    };
  }
  return { networking, services };
}
