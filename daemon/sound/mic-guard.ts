/**
 * The microphone follows focus (issue #23), carried out in the sound server:
 * every capture stream of a VM's QEMU (its application.process.id is QEMU's
 * pid) is muted, except the stream of the VM the policy says holds the
 * microphone (daemon/policy/microphone.ts). The member's own programs' streams
 * are never touched; playback never either.
 *
 * Kept true, not only set once: `pactl subscribe` reports every capture stream
 * created or changed (a VM started, a stream reopened, someone unmuting it in a
 * mixer), and each report re-reads the streams and mutes what must be muted.
 * A holder change mutes the streams already known at once, in parallel, before
 * the re-read confirms: that is the switch's latency.
 */
import readline from 'node:readline';
import { Backoff, sleep } from '../../transport/backoff.js';
import { Pactl, subscribedEvent, type CaptureStream } from './pulse.js';

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
  #subscriber: ReturnType<Pactl['subscribe']> | undefined;
  #warned = false;
  readonly #pactl: Pactl;

  constructor(private readonly options: MicGuardOptions) {
    this.#pactl = new Pactl(options.env);
  }

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
    for (const stream of wrong) {
      const mute = this.#shouldMute(pids.get(stream.pid!)!);
      stream.mute = mute;
      this.#pactl.setSourceOutputMute(stream.index, mute).catch(() => this.enforce());
    }
    // Each mute is reported back by `pactl subscribe`, which re-reads the streams then; with
    // nothing to change at once, re-read now (a stream may be new). Not both: on a loaded
    // machine the switch's own commands come first.
    if (wrong.length === 0) this.enforce();
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
    this.#subscriber?.kill();
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
    try {
      this.#streams = await this.#pactl.sourceOutputs();
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
          await this.#pactl.setSourceOutputMute(stream.index, mute);
          stream.mute = mute;
          this.options.log(`${name}: its microphone stream is ${mute ? 'muted' : 'unmuted'}`);
        } catch (error) {
          // Gone between the list and the command: its removal is reported, nothing to do.
          this.options.log(`${name}: could not ${mute ? 'mute' : 'unmute'} its microphone stream: ${(error as Error).message.split('\n')[0]}`, 'warn');
        }
      }),
    );
  }

  async #follow(): Promise<void> {
    const backoff = new Backoff(500, 30_000);
    while (!this.#closed) {
      const subscriber = this.#pactl.subscribe();
      this.#subscriber = subscriber;
      subscriber.catch(() => {});
      const lines = readline.createInterface({ input: subscriber.stdout! });
      let first = true;
      lines.on('line', (line) => {
        const event = subscribedEvent(line);
        if (first) {
          first = false;
          backoff.reset();
        }
        if (event && event.facility === 'source-output' && event.kind !== 'remove') this.enforce();
      });
      // Streams that exist before the subscription: put right once it is in place.
      this.enforce();
      const result = await subscriber.catch((error: unknown) => error as { stderr?: string });
      if (this.#closed) return;
      this.#warnOnce(`lost the sound server (pactl subscribe ended${result && typeof result === 'object' && 'stderr' in result && result.stderr ? `: ${String(result.stderr).trim().split('\n')[0]}` : ''}); VMs' microphones are muted again when it is back`);
      this.#streams = [];
      await sleep(backoff.next()).catch(() => {});
    }
  }

  #warnOnce(message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.options.log(message, 'warn');
  }
}
