/**
 * One error tree for QMP, after qemu.qmp: catch QmpError to catch them all.
 */
export class QmpError extends Error {
  override name = 'QmpError';
}

/** The socket could not be opened, or the greeting/negotiation failed. */
export class QmpConnectError extends QmpError {
  override name = 'QmpConnectError';
  /** The socket error's code (ECONNREFUSED: QEMU bound the socket but does not listen yet). */
  get code(): string | undefined {
    return (this.cause as { code?: string } | undefined)?.code;
  }
}

/** The connection is gone; commands in flight and new ones fail with this. */
export class QmpDisconnectedError extends QmpError {
  override name = 'QmpDisconnectedError';
}

/** The server broke the protocol: an overlong line, bad JSON, an unknown message shape. */
export class QmpProtocolError extends QmpError {
  override name = 'QmpProtocolError';
}

/** QEMU answered a command with an error: `class` is QMP's error class (e.g. CommandNotFound). */
export class QmpCommandError extends QmpError {
  override name = 'QmpCommandError';
  constructor(readonly command: string, readonly errorClass: string, readonly desc: string) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}

/** human-monitor-command "succeeds" with text starting "Error:"; we surface it as an error. */
export class QmpHmpError extends QmpCommandError {
  override name = 'QmpHmpError';
  constructor(readonly commandLine: string, message: string) {
    super('human-monitor-command', 'HmpError', message);
  }
}

export class QmpTimeoutError extends QmpError {
  override name = 'QmpTimeoutError';
  constructor(readonly command: string, readonly timeoutMs: number) {
    super(`${command}: no reply within ${timeoutMs} ms`);
  }
}
