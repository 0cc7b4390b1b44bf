/** Sound and clipboard verbs: `hiboss mic pin|unpin [NAME]`, `hiboss clip to|from [NAME]`. */
import { DaemonCallError } from '../../api/client.js';
import { CLIP_DIRECTIONS, ClipDirection } from '../../api/clipboard.js';
import { VmName } from '../../config/schema.js';
import { MIC_VERBS } from '../../daemon/policy/microphone.js';
import { connectToDaemon } from '../daemon-connection.js';
import { parseArgs, UsageError, type Verb } from '../args.js';

function target(name: string | undefined, extra: string | undefined): string {
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  if (name !== undefined && !VmName.safeParse(name).success) throw new UsageError(`invalid VM name "${name}" (1–32 of A–Z a–z 0–9 _ -)`);
  return name ?? '';
}

async function ask(what: string, call: (client: Awaited<ReturnType<typeof connectToDaemon>>) => Promise<string>): Promise<number> {
  const client = await connectToDaemon();
  try {
    console.log(await call(client));
    return 0;
  } catch (error) {
    if (error instanceof DaemonCallError) {
      console.error(`hiboss ${what}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    client.close();
  }
}

export const micVerb: Verb = {
  usage: `usage: hiboss mic pin [NAME] | hiboss mic unpin

The microphone follows the focused workspace: only its VM's capture is unmuted in
the sound server. "pin" keeps it with NAME (default: the focused workspace's VM) on
every workspace, until "unpin" or the session locks.`,
  async run(argv) {
    const { positional } = parseArgs(argv, {});
    const [verb, name, extra] = positional;
    if (verb !== 'pin' && verb !== 'unpin') throw new UsageError(`needs ${MIC_VERBS.join(' or ')}`);
    if (verb === 'unpin' && name !== undefined) throw new UsageError(`unexpected argument "${name}"`);
    const vm = target(name, extra);
    return ask(`mic ${verb}`, (client) => client.microphone(verb, vm));
  },
};

export const clipVerb: Verb = {
  usage: `usage: hiboss clip to|from [NAME]

"to" puts the host's clipboard (text) into the VM's; "from" brings the VM's to the
host's — through the guest agent, with a notification naming the network. Without
NAME: the focused workspace's VM. At most 64 KiB of text; control characters other
than newline and tab are refused. Nothing crosses without this command.`,
  async run(argv) {
    const { positional } = parseArgs(argv, {});
    const [direction, name, extra] = positional;
    const parsed = ClipDirection.safeParse(direction);
    if (!parsed.success) throw new UsageError(`needs a direction: ${CLIP_DIRECTIONS.join(' or ')}`);
    const vm = target(name, extra);
    return ask(`clip ${parsed.data}`, (client) => client.clipboard(parsed.data, vm));
  },
};
