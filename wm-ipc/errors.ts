/** One root for every error the WM IPC client raises. */
export class WmIpcError extends Error {
  override name = 'WmIpcError';
}

/** No socket could be found or opened, or the connection dropped. */
export class WmConnectionError extends WmIpcError {
  override name = 'WmConnectionError';
}

/** The peer broke the protocol: bad frame, bad JSON, a reply of the wrong type or shape. */
export class WmProtocolError extends WmIpcError {
  override name = 'WmProtocolError';
}

/** A RUN_COMMAND whose result says success: false. */
export class WmCommandError extends WmIpcError {
  override name = 'WmCommandError';
  constructor(readonly command: string, readonly reason: string) {
    super(`WM refused "${command}": ${reason}`);
  }
}
