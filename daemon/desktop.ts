/**
 * The member's desktop around the VMs: the microphone carried out in the sound
 * server, and the clipboard crossing by hand. The decisions are the policy's
 * (policy/microphone.ts decides who hears; the clipboard is a request, never
 * implicit); this part only carries them out and says what happened.
 */
import fs from 'node:fs';
import type { ClipDirection } from '../api/clipboard.js';
import type { VmState } from '../api/schema.js';
import type { Config } from '../config/schema.js';
import { vmPaths, type RuntimeRoots } from '../config/paths.js';
import { RequestError } from './errors.js';
import { agentSocketOf } from './host/guest-clock.js';
import { soundServerSocket } from './launch/audio.js';
import type { Logger } from './log.js';
import type { PolicyLoop } from './loop.js';
import type { MicVerb } from './policy/microphone.js';
import { vmOnWorkspace } from './policy/policy.js';
import type { MicGuard } from './sound/mic-guard.js';
import type { HostWm } from './clipboard/host.js';

/** How often a resume or pause looks again for a sound server that was not there. */
const LOOK_AGAIN_MS = 5000;

export interface DesktopOptions {
  roots: RuntimeRoots;
  logger: Logger;
  notify: (summary: string, body: string, urgency: 'low' | 'normal' | 'critical') => void;
  loop: () => PolicyLoop;
  config: () => Config;
  /** Each VM's QEMU pid, now. */
  pids: () => Map<string, number>;
  /** The WM the session runs (its clipboard tools differ), once attached. */
  wm: () => HostWm | undefined;
  stopping: () => boolean;
}

export class Desktop {
  /** Mutes every VM's capture but the microphone holder's; started once a sound server is there. */
  #mic: MicGuard | undefined;
  /** The guard's module is being loaded (on first need: a session without sound never pays for it). */
  #micLoading = false;
  /** When the sound server's socket was last looked for (performance.now()). */
  #lookedAt = -Infinity;

  constructor(private readonly options: DesktopOptions) {}

  /** Whether a sound server answers: without one, VMs have no audio device and nobody hears. */
  get hasSound(): boolean {
    return this.#mic !== undefined;
  }

  /** The microphone guard, once the member's sound server is there (checked again at each VM start). */
  followSoundServer(): void {
    if (this.#mic || this.#micLoading || this.options.stopping()) return;
    this.#lookedAt = performance.now();
    const socket = soundServerSocket(process.env);
    if (socket === null || !fs.existsSync(socket)) return;
    this.#micLoading = true;
    void import('./sound/mic-guard.js').then(({ MicGuard }) => {
      this.#micLoading = false;
      if (this.#mic || this.options.stopping()) return;
      const { logger } = this.options;
      const mic = new MicGuard({ env: process.env, pids: this.options.pids, log: (message, level) => (level === 'warn' ? logger.warn(message) : logger.info(message)) });
      this.#mic = mic;
      mic.start();
      mic.hold(this.options.loop().state.mic.holder);
      logger.info(`sound server at ${socket}: VMs get an audio device; the microphone follows the focused workspace`);
    });
  }

  /** The policy moved the microphone: the sound server follows (when there is one), and the log says so. */
  hearing(holder: string | null, pinned: boolean): void {
    if (!this.#mic) return;
    this.#mic.hold(holder);
    this.options.logger.info(holder === null ? 'the microphone is muted for every VM' : `the microphone is with ${holder}${pinned ? ' (pinned)' : ''}`);
  }

  /** A VM changed state: a QEMU that just came up has its capture muted unless it holds the microphone. */
  stateChanged(state: VmState): void {
    // At each start (its audio device depends on it); on a resume or pause (every switch) at most every few
    // seconds: looking for the socket is a path and a stat on the switch path, and nothing is due sooner.
    if (state === 'starting') this.followSoundServer();
    else if ((state === 'running' || state === 'paused') && !this.#mic && performance.now() - this.#lookedAt >= LOOK_AGAIN_MS) this.followSoundServer();
    if (state === 'running' || state === 'paused') this.#mic?.enforce();
  }

  close(): void {
    this.#mic?.close();
  }

  /** `hiboss mic pin [VM]` / `unpin`: replies with what now hears the member. */
  async microphone(verb: MicVerb, name: string | null): Promise<string> {
    const { answer } = await this.options.loop().ask({ type: 'mic', verb, name });
    if (answer && !answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer?.message ?? `microphone ${verb}`;
  }

  /**
   * Clipboard by hand: the host's text into the VM's clipboard (`to`) or back
   * (`from`), through the guest agent; told in a notification naming the
   * network, refusals too (a key binding has no terminal to answer in).
   */
  async clipboard(direction: ClipDirection, name: string | null): Promise<string> {
    const state = this.options.loop().state;
    const target = name ?? vmOnWorkspace(state, state.focused);
    // Loaded on first use: the host side runs wl-copy/xclip through execa (~7 MiB the daemon need not hold).
    const { transferClipboard } = await import('./clipboard/transfer.js');
    const outcome = await transferClipboard({
      direction,
      target,
      state: target === null ? undefined : state.vms[target]?.state,
      clipboard: target === null ? undefined : this.options.config().vms[target]?.clipboard,
      wm: this.options.wm(),
      agentSocket: target === null ? null : agentSocketOf(vmPaths(this.options.roots, target)),
      env: process.env,
    });
    const { logger, notify } = this.options;
    if (outcome.ok) {
      notify(outcome.summary, outcome.body, 'low');
      logger.info(`${outcome.summary}: ${outcome.body}`);
      return outcome.body;
    }
    notify(outcome.summary, outcome.message, 'normal');
    logger.warn(`${outcome.summary}: ${outcome.message}`);
    throw new RequestError(outcome.kind, outcome.message);
  }
}
