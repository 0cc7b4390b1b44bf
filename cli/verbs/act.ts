import { DaemonCallError } from '../../api/client.js';
import { connectToDaemon } from '../daemon-connection.js';
import type { Verb as ActionVerb } from '../../api/schema.js';
import { parseArgs, UsageError, type Verb } from '../args.js';

/** The verbs keys and clicks use; the same ones the daemon takes from `nop hiboss VERB` bindings. */
export function actVerb(verb: ActionVerb): Verb {
  return {
    usage: `usage: hiboss ${verb} [NAME]

Without NAME, acts on the VM of the focused workspace. The same verb bound as
"bindsym $mod+p nop hiboss ${verb}" runs inside the daemon without spawning anything
(see hiboss wm-config).`,
    async run(argv) {
      const { positional } = parseArgs(argv, {});
      if (positional.length > 1) throw new UsageError(`unexpected argument "${positional[1]}"`);
      const client = await connectToDaemon();
      try {
        console.log(await client.act(verb, positional[0] ?? ''));
        return 0;
      } catch (error) {
        if (error instanceof DaemonCallError) {
          console.error(`hiboss ${verb}: ${error.message}`);
          return 1;
        }
        throw error;
      } finally {
        client.close();
      }
    },
  };
}
