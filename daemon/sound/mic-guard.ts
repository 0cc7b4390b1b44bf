/**
 * The microphone follows focus, carried out in the sound server:
 * every capture stream of a VM's QEMU (its application.process.id is QEMU's
 * pid) is muted, except the stream of the VM the policy says holds the
 * microphone (daemon/policy/microphone.ts). The member's own programs' streams
 * are never touched; playback never either.
 *
 * Kept true, not only set once: one connection to the sound server, kept open,
 * is told of every capture stream created or changed (a VM started, a stream
 * reopened, someone unmuting it in a mixer), and each report re-reads the
 * streams and mutes what must be muted. A holder change mutes the streams
 * already known at once, on that connection, before the re-read confirms: that
 * is the switch's latency. When the server goes away (restarted, crashed) the
 * guard reconnects with backoff and, first thing on the new connection, mutes
 * every VM's stream but the holder's: it fails closed.
 */
import { Backoff, sleep } from '../../transport/backoff.js';
import { captureStreams, connectSoundServer, type CaptureStream, type NativeConnection } from './pulse.js';

export interface MicGuardOptions {
  /** The environment of the sound server's clients (XDG_RUNTIME_DIR or PULSE_SERVER). */
  env: NodeJS.ProcessEnv;
  /** Each VM's QEMU pid, now. */
  pids: () => Map<string, number>;
  log: (message: string, level?: 'info' | 'warn') => void;
}

export class MicGuard {
  #holder: string | null = null;
  #streams: CaptureStream[] = [];
  #busy = false;
  #again = false;
  #closed = false;
  #connection: NativeConnection | undefined;
  #warned = false;

  constructor(private readonly options: MicGuardOptions) {}

  /** Follows the sound server's capture streams until close(); reconnects with backoff if it goes away. */
  start(): void {
    void this.#follow();
  }

  /** The VM whose capture stays unmuted (null: none). Every other VM's is muted now. */
  hold(holder: string | null): void {
    this.#holder = holder;
    const pids = this.#vmPids();
    // At once, for the streams already known; enforce() then checks against a fresh list.
    const wrong = this.#streams.filter((stream) => stream.pid !== null && pids.has(stream.pid) && stream.mute !== this.#shouldMute(pids.get(stream.pid)!));
    const connection = this.#connection;
    if (connection)
      for (const stream of wrong) {
        const mute = this.#shouldMute(pids.get(stream.pid!)!);
        stream.mute = mute;
        connection.setSourceOutputMute(stream.index, mute).catch(() => this.enforce());
      }
    // Each mute is reported back as a change event, which re-reads the streams then; with
    // nothing to change at once, re-read now (a stream may be new). Not both: on a loaded
    // machine the switch's own requests come first.
    if (wrong.length === 0 || !connection) this.enforce();
  }

  /** A VM's QEMU started or ended: its stream is put right. */
  enforce(): void {
    if (this.#closed) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    void this.#pass().finally(() => {
      this.#busy = false;
      if (this.#again) {
        this.#again = false;
        this.enforce();
      }
    });
  }

  close(): void {
    this.#closed = true;
    this.#connection?.close();
  }

  /** QEMU pid → VM name. */
  #vmPids(): Map<number, string> {
    const byPid = new Map<number, string>();
    for (const [name, pid] of this.options.pids()) byPid.set(pid, name);
    return byPid;
  }

  #shouldMute(name: string): boolean {
    return name !== this.#holder;
  }

  async #pass(): Promise<void> {
    const connection = this.#connection;
    // No server now: nothing to mute; the next connection's first pass mutes everything due.
    if (!connection) return;
    try {
      this.#streams = captureStreams(await connection.sourceOutputs());
    } catch (error) {
      this.#streams = [];
      this.#warnOnce(`the sound server's capture streams cannot be read: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    const pids = this.#vmPids();
    await Promise.all(
      this.#streams.map(async (stream) => {
        const name = stream.pid === null ? undefined : pids.get(stream.pid);
        if (name === undefined || stream.mute === this.#shouldMute(name)) return;
        const mute = this.#shouldMute(name);
        try {
          await connection.setSourceOutputMute(stream.index, mute);
          stream.mute = mute;
          this.options.log(`${name}: its microphone stream is ${mute ? 'muted' : 'unmuted'}`);
        } catch (error) {
          // Gone between the list and the request: its removal is reported, nothing to do.
          this.options.log(`${name}: could not ${mute ? 'mute' : 'unmute'} its microphone stream: ${(error as Error).message.split('\n')[0]}`, 'warn');
        }
      }),
    );
  }

  async #follow(): Promise<void> {
    const backoff = new Backoff(250, 10_000);
    while (!this.#closed) {
      let connection: NativeConnection;
      try {
        connection = await connectSoundServer(this.options.env);
      } catch (error) {
        this.#warnOnce(`no sound server to mute VMs' microphones in (${(error as Error).message.split('\n')[0]}); they are muted once it is there`);
        await sleep(backoff.next()).catch(() => {});
        continue;
      }
      if (this.#closed) return connection.close();
      backoff.reset();
      if (this.#warned) this.options.log('the sound server is back: VMs\' microphones are put right');
      this.#warned = false;
      this.#connection = connection;
      connection.onEvent((event) => {
        if (event.facility === 'source-output' && event.type !== 'remove') this.enforce();
      });
      // The subscription is in place: streams that exist already are put right now.
      this.enforce();
      const reason = await connection.closed;
      this.#connection = undefined;
      this.#streams = [];
      if (this.#closed) return;
      this.#warnOnce(`lost the sound server (${reason.message}); VMs' microphones are muted again when it is back`);
      await sleep(backoff.next()).catch(() => {});
    }
  }

  #warnOnce(message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.options.log(message, 'warn');
  }
}
