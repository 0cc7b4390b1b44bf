/**
 * Who may hear the member, as a pure decision like the rest of the
 * policy: the microphone is with the VM of the focused workspace — or with the
 * VM it is pinned to (`hiboss mic pin VM`) — and with nobody while the session
 * is locked or the machine sleeps. A lock or a sleep also ends a pin. Every
 * other VM's capture is muted in the sound server (daemon/sound/ carries the
 * `microphone` action out); playback is never touched.
 *
 * One entry point, `microphoneTurn`, called once at the end of each decision
 * with the event and what the decision knows by then; it returns the new state,
 * the action (only when the holder or the pin changed) and the answer to a
 * pin/unpin request.
 */

import type { MicrophoneAction, MicrophoneAnswer, MicrophoneEvent, MicrophoneState } from './parts.js';

export { MIC_VERBS, type MicVerb, type MicrophoneAction, type MicrophoneAnswer, type MicrophoneEvent, type MicrophoneState } from './parts.js';

export const NO_MICROPHONE: MicrophoneState = { pinned: null, holder: null };

/** What the rest of the decision knows, as far as the microphone cares. */
export interface MicrophoneView {
  /** The VM bound to the focused workspace (null: none, or not focused). */
  focusedVm: string | null;
  locked: boolean;
  asleep: boolean;
  /** Whether a VM has an audio device; undefined: no such VM in the config (or it is being removed). */
  audio: (name: string) => boolean | undefined;
}

/** The event's type is all this needs of events other than its own. */
type AnyEvent = { type: string };

function isMicEvent(event: AnyEvent): event is MicrophoneEvent {
  return event.type === 'mic';
}

export function microphoneTurn(
  before: MicrophoneState,
  event: AnyEvent,
  view: MicrophoneView,
): { state: MicrophoneState; actions: MicrophoneAction[]; answer: MicrophoneAnswer | null } {
  let pinned = before.pinned;
  let answer: MicrophoneAnswer | null = null;
  if (event.type === 'lock' || event.type === 'sleep') pinned = null;
  if (isMicEvent(event)) {
    const request = handleRequest(pinned, event, view);
    pinned = request.pinned;
    answer = request.answer;
  }
  // A pinned VM removed from the config, or its audio turned off, lets go of the microphone.
  if (pinned !== null && view.audio(pinned) !== true) pinned = null;
  const holder = view.locked || view.asleep ? null : pinned ?? (view.focusedVm !== null && view.audio(view.focusedVm) === true ? view.focusedVm : null);
  const state = before.pinned === pinned && before.holder === holder ? before : { pinned, holder };
  const actions: MicrophoneAction[] = state === before ? [] : [{ type: 'microphone', holder, pinned: pinned !== null }];
  return { state, actions, answer };
}

function handleRequest(pinned: string | null, event: MicrophoneEvent, view: MicrophoneView): { pinned: string | null; answer: MicrophoneAnswer } {
  switch (event.verb) {
    case 'pin': {
      const name = event.name ?? view.focusedVm;
      if (name === null) return { pinned, answer: { ok: false, kind: 'InvalidArgument', message: 'the focused workspace has no VM: name the VM to pin the microphone to' } };
      const audio = view.audio(name);
      if (audio === undefined) return { pinned, answer: { ok: false, kind: 'NoSuchVm', message: `no VM named "${name}"` } };
      if (!audio) return { pinned, answer: { ok: false, kind: 'InvalidArgument', message: `${name} has no audio device ("audio": false in the config)` } };
      if (view.locked || view.asleep) return { pinned, answer: { ok: false, kind: 'InvalidArgument', message: 'the session is locked: nobody hears you until it is unlocked' } };
      return { pinned: name, answer: { ok: true, message: `microphone pinned to ${name}: it hears you on every workspace until \`hiboss mic unpin\` or a lock` } };
    }
    case 'unpin':
      return {
        pinned: null,
        answer: { ok: true, message: pinned === null ? 'the microphone was not pinned: it follows the focused workspace' : `microphone unpinned from ${pinned}: it follows the focused workspace again` },
      };
    default: {
      const never: never = event.verb;
      throw new Error(`unknown microphone verb ${String(never)}`);
    }
  }
}
