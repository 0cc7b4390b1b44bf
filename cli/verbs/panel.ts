/**
 * `hiboss panel`: the terminal VM manager. A client of the daemon's D-Bus API;
 * the only file it writes besides a wizard network is the daemon's config,
 * through config/file.ts, after which it asks the daemon to Reload().
 */
import { marketEnv } from '../../panel/market-env.js';
import blessed from 'blessed';
import path from 'node:path';
import { DaemonClient } from '../../api/client.js';
import { parseArgs, UsageError, type Verb } from '../args.js';
import { defaultConfigPath } from '../../config/file.js';
import { Panel } from '../../panel/app.js';
import { networksDirFor } from '../../panel/wizard.js';
import { errorMessage } from '../../shared/error-message.js';

export const panelVerb: Verb = {
  usage: `usage: hiboss panel [--config FILE]

A terminal manager for the daemon's VMs: networks and their VMs on the left,
the selected VM's details on the right, its log below. It follows the daemon's
D-Bus signals live and waits for the daemon if it is not running.

Keys: s start, x stop, p pause/resume, r restart, g go to its workspace,
      e edit (networks made here), d delete (asks first), n new network, q quit.

  --config FILE   the daemon's config (default $XDG_CONFIG_HOME/hiboss/config.json);
                  new networks go to $XDG_DATA_HOME/hiboss/networks/NAME/`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['config'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const configFile = path.resolve((flags.get('config') as string | undefined) ?? defaultConfigPath());
    if (!process.stdout.isTTY) throw new UsageError('the panel needs a terminal (stdout is not a TTY)');
    let client: DaemonClient;
    try {
      // Without requireDaemon: a missing daemon is shown inline and waited for.
      client = await DaemonClient.connect();
    } catch (error) {
      console.error(`hiboss panel: ${errorMessage(error)}`);
      return 1;
    }
    const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'hiboss panel', autoPadding: true });
    return new Promise<number>((resolve) => {
      const panel = new Panel({
        screen,
        client,
        configFile,
        networksDir: networksDirFor(),
        market: marketEnv(configFile),
        onQuit: () => {
          panel.dispose();
          screen.destroy();
          client.close();
          resolve(0);
        },
      });
      void panel.start();
    });
  },
};
