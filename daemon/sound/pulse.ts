/**
 * The member's sound server as the daemon reaches it: its native socket
 * (PulseAudio's, or PipeWire's pipewire-pulse), found the way libpulse finds
 * it, and authenticated the way libpulse does (the cookie file if there is
 * one, else the socket's peer credentials). The protocol is in native/.
 * No decisions here: mic-guard.ts decides which stream to mute.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { soundServerSocket } from '../launch/audio.js';
import { NativeConnection } from './native/connection.js';
import { COOKIE_BYTES, SourceOutput, SourceOutputs } from './native/protocol.js';

export { SourceOutput, SourceOutputs, NativeConnection };

/** The name the daemon's connection has in the server's list of clients. */
export const CLIENT_NAME = 'hiboss';

/** A capture stream, as the guard needs it: the process that records (application.process.id). */
export interface CaptureStream {
  index: number;
  pid: number | null;
  mute: boolean;
}

export function captureStreams(outputs: SourceOutput[]): CaptureStream[] {
  return outputs.map((output) => {
    const pid = Number(output.properties['application.process.id']);
    return { index: output.index, pid: Number.isInteger(pid) && pid > 0 ? pid : null, mute: output.mute };
  });
}

/** $PULSE_COOKIE, else ~/.config/pulse/cookie, else ~/.pulse-cookie; none: all zero (credentials decide). */
export async function readCookie(env: NodeJS.ProcessEnv): Promise<Buffer> {
  const home = env.HOME || os.homedir();
  const candidates = env.PULSE_COOKIE ? [env.PULSE_COOKIE] : [path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'pulse', 'cookie'), path.join(home, '.pulse-cookie')];
  for (const file of candidates) {
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(file, 'r');
      const cookie = Buffer.alloc(COOKIE_BYTES);
      const { bytesRead } = await handle.read(cookie, 0, COOKIE_BYTES, 0);
      if (bytesRead === COOKIE_BYTES) return cookie;
    } catch {
      // Not there or not readable: the next place, then none.
    } finally {
      await handle?.close();
    }
  }
  return Buffer.alloc(COOKIE_BYTES);
}

/** A connection to the member's sound server, subscribed to capture-stream events. */
export async function connectSoundServer(env: NodeJS.ProcessEnv): Promise<NativeConnection> {
  const socket = soundServerSocket(env);
  if (!socket) throw new Error('no sound server socket: neither PULSE_SERVER (a unix socket) nor XDG_RUNTIME_DIR is set');
  return NativeConnection.open(socket, await readCookie(env), CLIENT_NAME);
}
