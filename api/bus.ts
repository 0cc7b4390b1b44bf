/** Connections to the session bus, for the daemon, its clients and the tests' stand-ins. */
import type { MessageBus } from 'dbus-next';

/**
 * Closes a dbus-next connection for good. A message already read from the socket
 * is still handled after `disconnect()`, and its reply (or the error reply
 * dbus-next sends when a handler threw) would be written into the closed stream,
 * which dbus-next throws out of its socket reader: an uncaught error that ends the
 * process — a daemon stopping as a bar click arrives would exit with a crash, not
 * 0. After this, nothing more is sent.
 */
export function closeBus(bus: MessageBus): void {
  bus.send = () => undefined;
  bus.disconnect();
}
