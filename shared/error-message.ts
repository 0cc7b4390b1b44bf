// What went wrong, as text, from anything a `catch` can hold: an Error's message, or the
// thrown value itself when something threw a string or a plain object.

/** The message of a caught value, whatever it is (a catch clause's variable is `unknown`). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  return String(error);
}

/** The errno code (`ENOENT`, `EACCES`…) of a caught value, when it carries one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}
