/**
 * Sound: the audio device hiboss gives a VM — an Intel HDA controller
 * with a duplex codec (speaker and microphone), played through the member's
 * sound server over the PulseAudio protocol (PulseAudio itself, or PipeWire's
 * pipewire-pulse). The codec's mixer stays in QEMU (`mixer=off`): the guest's
 * own volume and mute controls never reach the sound server, so a guest cannot
 * unmute the capture stream the daemon muted (daemon/sound/).
 *
 * No sound server that answers, or `"audio": false`: no device at all. (QEMU's
 * `pa` audiodev refuses to start without its server: a socket left behind by a
 * sound server that died would otherwise keep every VM from starting.)
 */
import net from 'node:net';
import path from 'node:path';
import type { VmConfig } from '../../config/schema.js';

/** QEMU's id for the audiodev: also the stream name the sound server lists (media.name). */
export const AUDIODEV_ID = 'hiboss-audio';

/** The sound server's socket: PULSE_SERVER (a unix: path or a bare path), else $XDG_RUNTIME_DIR/pulse/native. */
export function soundServerSocket(env: NodeJS.ProcessEnv): string | null {
  const given = env.PULSE_SERVER?.trim();
  if (given) {
    // "unix:/path" or "/path"; a TCP server would carry sound off the machine: not used.
    const socket = given.replace(/^unix:/, '');
    return path.isAbsolute(socket) ? socket : null;
  }
  if (!env.XDG_RUNTIME_DIR) return null;
  return path.join(env.XDG_RUNTIME_DIR, 'pulse', 'native');
}

/** QEMU's option syntax: a comma inside a value is written twice. */
function optionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** Resolves true when something accepts connections on the unix socket (within `timeoutMs`). */
export function socketAnswers(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    const done = (answers: boolean) => {
      clearTimeout(timer);
      connection.destroy();
      resolve(answers);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    connection.once('connect', () => done(true));
    connection.once('error', () => done(false));
  });
}

/** What the launchers add: the audio device when the member's sound server answers now. */
export async function audioArgsNow(vm: Pick<VmConfig, 'audio'>, env: NodeJS.ProcessEnv): Promise<string[]> {
  if (vm.audio === false) return [];
  const socket = soundServerSocket(env);
  const answers = socket !== null && (await socketAnswers(socket));
  return audioArgs(vm, env, () => answers);
}

/** The argv that gives `vm` its audio device, or nothing (audio off, or no sound server to play through). */
export function audioArgs(vm: Pick<VmConfig, 'audio'>, env: NodeJS.ProcessEnv, answers: (socket: string) => boolean): string[] {
  if (vm.audio === false) return [];
  const socket = soundServerSocket(env);
  if (socket === null || !answers(socket)) return [];
  return [
    '-audiodev', `pa,id=${AUDIODEV_ID},server=unix:${optionValue(socket)}`,
    '-device', 'intel-hda,id=hiboss-hda',
    '-device', `hda-duplex,bus=hiboss-hda.0,audiodev=${AUDIODEV_ID},mixer=off`,
  ];
}
