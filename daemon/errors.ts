// The daemon's one error tree. Every error the daemon raises on purpose is a DaemonError, so a
// caller can tell "the daemon refused or failed, and says why" from a bug (a TypeError…), and
// each subclass names its concern (HibernateError, BackupError…) through `name`.
import type { Errors } from '../api/names.js';

export class DaemonError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** How the D-Bus API answers a refused request: the kind becomes the error's D-Bus name. */
export type RequestErrorKind = keyof typeof Errors;

/** A request the daemon refuses, with the D-Bus error kind its client sees. */
export class RequestError extends DaemonError {
  constructor(
    readonly kind: RequestErrorKind,
    message: string,
  ) {
    super(message);
  }
}
