/**
 * The member's sound server as the daemon speaks to it: Debian's `pactl` (the
 * PulseAudio protocol, which PipeWire's pipewire-pulse serves too), argv only.
 * What it prints is parsed with the one schema below and bounded in size.
 * No decisions here: mic-guard.ts decides which stream to mute.
 */
import { execa } from 'execa';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { z } from 'zod';

/** The switch's own commands: node's plain execFile (argv, no shell) starts a third faster than execa here. */
const run = promisify(execFile);

/** `pactl` answers in far less; a sound server that does not is treated as gone. */
const PACTL_TIMEOUT_MS = 5000;
/** A list of capture streams: a few KiB each; more than this is not a sound server we trust. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;

/** One capture stream (`pactl -f json list source-outputs`): who records, and whether it is muted. */
export const SourceOutput = z.looseObject({
  index: z.number().int().nonnegative(),
  mute: z.boolean(),
  properties: z.record(z.string().max(256), z.string().max(4096)),
});
export type SourceOutput = z.infer<typeof SourceOutput>;
export const SourceOutputs = z.array(SourceOutput).max(10_000);

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

/** One line of `pactl subscribe`: "Event 'new' on source-output #3". */
export function subscribedEvent(line: string): { kind: 'new' | 'change' | 'remove'; facility: string; index: number } | null {
  const match = /^Event '(new|change|remove)' on ([a-z-]{1,32}) #(\d{1,10})$/.exec(line.trim());
  return match ? { kind: match[1] as 'new' | 'change' | 'remove', facility: match[2]!, index: Number(match[3]) } : null;
}

export class Pactl {
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  async sourceOutputs(): Promise<CaptureStream[]> {
    const { stdout } = await run('pactl', ['-f', 'json', 'list', 'source-outputs'], { env: this.env, timeout: PACTL_TIMEOUT_MS, maxBuffer: MAX_LIST_BYTES, encoding: 'utf8' });
    return captureStreams(SourceOutputs.parse(JSON.parse(stdout)));
  }

  async setSourceOutputMute(index: number, mute: boolean): Promise<void> {
    await run('pactl', ['set-source-output-mute', String(index), mute ? '1' : '0'], { env: this.env, timeout: PACTL_TIMEOUT_MS });
  }

  /** `pactl subscribe`: the running process (its lines: subscribedEvent). */
  subscribe() {
    return execa('pactl', ['subscribe'], { env: this.env, extendEnv: false, buffer: { stdout: false, stderr: true }, stdin: 'ignore', maxBuffer: { stderr: 64 * 1024 } });
  }
}
