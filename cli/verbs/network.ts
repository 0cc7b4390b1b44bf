/**
 * `hiboss network identity|admit|remove`: a member's join request
 * from her VM's published identity (through the daemon's D-Bus API, which
 * reads it with the guest agent), and the admin's changes to the members of a
 * network checkout's configs.json — validated whole, then written atomically;
 * bad input changes nothing.
 */
import path from 'node:path';
import { DaemonCallError } from '../../api/client.js';
import { VmName } from '../../config/schema.js';
import { ConfigsError, MEMBER_SERVICES, type MemberService } from '../../networks/configs-schema.js';
import { encodeJoinRequest, JoinRequest, JoinRequestError, parseJoinRequest } from '../../networks/join-request.js';
import { admitMember, MembersError, removeMember } from '../../networks/members.js';
import { readConfigsFile, writeConfigsFile } from '../../networks/write-network.js';
import { connectToDaemon } from '../daemon-connection.js';
import { parseArgs, UsageError, type Verb } from '../args.js';

const ACTIONS = ['identity', 'admit', 'remove'] as const;
type Action = (typeof ACTIONS)[number];

export const networkVerb: Verb = {
  usage: `usage: hiboss network identity VM [--endpoint HOST:PORT] [--json]
       hiboss network admit CHECKOUT REQUEST [--name NAME] [--config CONFIG] [--address ADDRESS] [--admin] [--serves mumble,git,cloud]
       hiboss network remove CHECKOUT MEMBER

  identity  the VM's join request: one line (hiboss-join-request:…) to send the network's admin.
            Its public keys, as the VM published them at boot (read through its guest agent;
            the private keys never leave the VM). --endpoint: where the others can dial your VPN.
            --json: the request as JSON.
  admit     (the admin) adds the requesting member to CHECKOUT/configs.json, CHECKOUT being the
            admin's clone of the network flake. The address: yggdrasil's is the key's; wireguard
            and tinc get the next free one of the config's subnet (or --address); zerotier needs
            --address (the one its controller assigned). Then commit and push: members get the
            change as an ordinary update of the network's flake.
  remove    (the admin) removes MEMBER: it is no peer, no allowed key, no host, no firewall source,
            no Syncthing device of anyone once they update.
Nothing is written when anything is wrong (malformed request, key or address of the wrong
shape, duplicate name or address, unknown member).`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['json', 'admin'], valued: ['endpoint', 'name', 'config', 'address', 'serves'] });
    const [action, ...rest] = positional;
    if (!action || !(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`needs an action: ${ACTIONS.join(', ')}`);
    const allowed: Record<Action, string[]> = { identity: ['json', 'endpoint'], admit: ['name', 'config', 'address', 'admin', 'serves'], remove: [] };
    for (const flag of flags.keys()) {
      if (flag !== 'help' && !allowed[action as Action].includes(flag)) throw new UsageError(`--${flag} does not go with ${action}`);
    }
    const text = (name: string) => (typeof flags.get(name) === 'string' ? (flags.get(name) as string) : undefined);
    try {
      switch (action as Action) {
        case 'identity':
          return await identity(rest, text('endpoint'), flags.has('json'));
        case 'admit':
          return await admit(rest, {
            name: text('name'),
            config: text('config'),
            address: text('address'),
            admin: flags.has('admin'),
            serves: servesFlag(text('serves')),
          });
        case 'remove':
          return await remove(rest);
        default: {
          const never: never = action as never;
          throw new UsageError(`unknown action ${String(never)}`);
        }
      }
    } catch (error) {
      if (error instanceof MembersError || error instanceof JoinRequestError || error instanceof ConfigsError || error instanceof DaemonCallError) {
        console.error(`hiboss network ${action}: ${error.message}`);
        return 1;
      }
      throw error;
    }
  },
};

function servesFlag(value: string | undefined): MemberService[] | undefined {
  if (value === undefined) return undefined;
  const services = value.split(',').filter((s) => s !== '');
  for (const service of services) {
    if (!(MEMBER_SERVICES as readonly string[]).includes(service)) throw new UsageError(`--serves: unknown service "${service}" (services: ${MEMBER_SERVICES.join(', ')})`);
  }
  return services as MemberService[];
}

function exactly<T extends string[]>(rest: string[], names: string[]): T {
  if (rest.length < names.length) throw new UsageError(`needs ${names.slice(rest.length).join(' and ')}`);
  if (rest.length > names.length) throw new UsageError(`unexpected argument "${rest[names.length]}"`);
  return rest as T;
}

async function identity(rest: string[], endpoint: string | undefined, json: boolean): Promise<number> {
  const [vm] = exactly<[string]>(rest, ['a VM name']);
  if (!VmName.safeParse(vm).success) throw new UsageError(`invalid VM name "${vm}" (1–32 of A–Z a–z 0–9 _ -)`);
  const client = await connectToDaemon();
  try {
    const published = await client.identity(vm);
    const request = JoinRequest.safeParse({ ...published, ...(endpoint === undefined ? {} : { endpoint }) });
    if (!request.success) throw new UsageError(`--endpoint "${endpoint}" is not host:port`);
    console.log(json ? JSON.stringify(request.data, null, 2) : encodeJoinRequest(request.data));
    return 0;
  } finally {
    client.close();
  }
}

async function admit(rest: string[], options: Parameters<typeof admitMember>[2]): Promise<number> {
  const [checkout, line] = exactly<[string, string]>(rest, ['a network checkout', 'a join request']);
  const request = parseJoinRequest(line);
  const defined = Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined));
  const admitted = admitMember(readConfigsFile(checkout), request, defined);
  const file = await writeConfigsFile(checkout, admitted.configs);
  console.log(`admitted ${admitted.name} (${admitted.member.address}) to ${admitted.config} in ${file}`);
  const nodeId = admitted.member.zerotier?.nodeId;
  if (admitted.configs[admitted.config]?.networkLayer === 'zerotier' && nodeId) {
    console.log(`authorise ZeroTier node ${nodeId} in the network's controller too: hiboss runs none (the members' firewall already lets ${admitted.name} in)`);
  }
  console.log(nextSteps(checkout, `admit ${admitted.name}`));
  return 0;
}

async function remove(rest: string[]): Promise<number> {
  const [checkout, member] = exactly<[string, string]>(rest, ['a network checkout', 'a member name']);
  const removed = removeMember(readConfigsFile(checkout), member);
  const file = await writeConfigsFile(checkout, removed.configs);
  console.log(`removed ${member} from ${removed.config} in ${file}`);
  console.log(nextSteps(checkout, `remove ${member}`));
  return 0;
}

function nextSteps(checkout: string, what: string): string {
  const dir = path.resolve(checkout);
  return `now commit and push it; members get it as an update of the network's flake:\n  git -C ${dir} commit -m "${what}" configs.json && git -C ${dir} push`;
}
