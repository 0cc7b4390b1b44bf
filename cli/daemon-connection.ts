import { DaemonClient } from '../api/client.js';

/** The daemon for a one-shot verb: absent, it is a one-line error and exit 1. */
export async function connectToDaemon(): Promise<DaemonClient> {
  try {
    return await DaemonClient.connect({ requireDaemon: true });
  } catch (error) {
    console.error(`hiboss: ${(error as Error).message}`);
    process.exit(1);
  }
}
