/** The guest agent client's one error tree (classified by type, never by message text). */
export class AgentError extends Error {
  override name = 'AgentError';
}
/** The agent's socket could not be opened (QEMU not up, path wrong). */
export class AgentConnectError extends AgentError {
  override name = 'AgentConnectError';
}
/** No answer in time: in a guest, usually "the agent is not running (yet)". */
export class AgentTimeoutError extends AgentError {
  override name = 'AgentTimeoutError';
  constructor(readonly command: string, readonly timeoutMs: number) {
    super(`${command}: no answer from the guest agent within ${timeoutMs} ms`);
  }
}
/** The channel closed (QEMU gone) or we closed it. */
export class AgentDisconnectedError extends AgentError {
  override name = 'AgentDisconnectedError';
}
/** The agent answered with an error. */
export class AgentCommandError extends AgentError {
  override name = 'AgentCommandError';
  constructor(readonly command: string, readonly errorClass: string, readonly desc: string) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}
/** The agent answered something that is not its protocol. */
export class AgentProtocolError extends AgentError {
  override name = 'AgentProtocolError';
}
