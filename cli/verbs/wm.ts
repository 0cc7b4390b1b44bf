import { EVENT_NAMES, isEventName, type EventName } from '../../wm-ipc/protocol.js';
import { WmClient } from '../../wm-ipc/client.js';
import { parseArgs, UsageError, type Verb } from '../args.js';

const usage = `usage: hiboss wm workspaces [--json]
       hiboss wm events [TYPE…]

Debugging views of the sway/i3 IPC (socket from SWAYSOCK, I3SOCK, the WM, or $XDG_RUNTIME_DIR).
  workspaces   the WM's workspaces; --json prints the WM's objects (name, num, focused, visible, output, …)
  events       events as JSON lines until interrupted, like swaymsg -t subscribe -m
               TYPE: ${EVENT_NAMES.join(', ')} (default: all)`;

export const wmVerb: Verb = {
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'workspaces') return workspaces(rest);
    if (sub === 'events') return events(rest);
    throw new UsageError(sub ? `unknown subcommand "${sub}" (workspaces or events)` : 'needs a subcommand: workspaces or events');
  },
};

async function workspaces(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, { boolean: ['json'] });
  if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
  const client = await WmClient.connect({ reconnect: false });
  try {
    const list = await client.getWorkspaces();
    if (flags.has('json')) {
      console.log(JSON.stringify(list));
    } else {
      for (const w of list) {
        const mark = w.focused ? '*' : w.visible ? '+' : ' ';
        console.log(`${mark} ${String(w.num).padStart(3)}  ${w.name.padEnd(24)} ${w.output}`);
      }
    }
    return 0;
  } finally {
    client.close();
  }
}

async function events(argv: string[]): Promise<number> {
  const { positional } = parseArgs(argv, {});
  const unknown = positional.filter((t) => !isEventName(t));
  if (unknown.length) throw new UsageError(`unknown event type "${unknown[0]}" (one of ${EVENT_NAMES.join(', ')})`);
  const types = (positional.length ? positional : EVENT_NAMES) as EventName[];
  const client = await WmClient.connect();
  for (const type of types) {
    client.on(type, (payload: unknown) => process.stdout.write(JSON.stringify({ type, ...(payload as object) }) + '\n'));
  }
  client.on('disconnected', (error) => console.error(`hiboss wm events: ${error.message}; reconnecting`));
  client.on('protocol-error', (error) => console.error(`hiboss wm events: ${error.message}`));
  await client.subscribe(types);
  return new Promise((resolve) => {
    // 'closed' is our own close() on SIGINT: being interrupted is how this ends normally.
    client.on('end', ({ reason }) => resolve(reason === 'exit' || reason === 'closed' ? 0 : 1));
    process.once('SIGINT', () => {
      client.close();
    });
  });
}
