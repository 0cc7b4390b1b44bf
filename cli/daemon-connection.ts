import { DaemonClient } from '../api/client.js';
import { errorMessage } from '../shared/error-message.js';

/** The daemon for a one-shot verb: absent, it is a one-line error and exit 1. */
export async function connectToDaemon(): Promise<DaemonClient> {
  try {
    return await DaemonClient.connect({ requireDaemon: true });
  } catch (error) {
    console.error(`hiboss: ${errorMessage(error)}`);
    process.exit(1);
  }
}

/** The config file the running daemon reads, asked over D-Bus; undefined when no daemon answers. */
export async function runningDaemonConfig(): Promise<string | undefined> {
  let client: DaemonClient | undefined;
  try {
    client = await DaemonClient.connect({ requireDaemon: true, callTimeoutMs: 5000 });
    return await client.configPath();
  } catch {
    return undefined;
  } finally {
    client?.close();
  }
}
