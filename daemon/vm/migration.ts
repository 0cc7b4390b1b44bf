/**
 * The QMP side of a save and a restore (./hibernate-save.ts, ./hibernate-restore.ts):
 * the migration capabilities QEMU offers, waiting for a migration to finish, and
 * calling one off so that QEMU lets go of its stream.
 */
import type { QmpClient } from '../../qmp/client.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';
import { HibernateError } from './image-files.js';

/** A save or restore that makes no progress for this long is given up. */
export const STALL_MS = 60_000;
/** A local save is not to be throttled by QEMU's default 128 MiB/s (bytes/s). */
export const UNLIMITED_BANDWIDTH = 2 ** 50;
/** The capability that makes a migration skip RAM shared with a file (a file-backed guest's RAM file). */
export const IGNORE_SHARED = 'x-ignore-shared';


export async function capabilities(qmp: QmpClient): Promise<Set<string>> {
  const list = await qmp.execute('query-migrate-capabilities');
  return new Set(list.map((c) => c.capability));
}

export const MIGRATION_DONE = new Set(['completed', 'failed', 'cancelled']);

/** Resolves with the migration's final status (completed, failed, cancelled), from events and a poll. */
export function migrationFinished(qmp: QmpClient, signal: AbortSignal): Promise<{ status: string; error?: string | undefined }> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (result: { status: string; error?: string | undefined } | Error) => {
      if (done) return;
      done = true;
      off();
      clearInterval(poll);
      signal.removeEventListener('abort', onAbort);
      qmp.off('close', onClose);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const check = () =>
      qmp.execute('query-migrate', undefined, { timeoutMs: 10_000 }).then(
        (info) => {
          if (info.status && MIGRATION_DONE.has(info.status)) finish({ status: info.status, error: info['error-desc'] });
        },
        (error: Error) => finish(error),
      );
    const off = qmp.onEvent('MIGRATION', (event) => {
      if (MIGRATION_DONE.has(event.data.status)) void check();
    });
    // Events need the `events` capability; the poll is the safety net (QEMU may not send one we wait for).
    const poll = setInterval(check, 250);
    const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new HibernateError('aborted'));
    const onClose = () => finish(new HibernateError('QEMU closed its QMP connection'));
    signal.addEventListener('abort', onAbort);
    qmp.once('close', onClose);
    void check();
  });
}


export function versionOf(qmp: QmpClient): string {
  const v = qmp.greeting.QMP.version.qemu;
  return `${v.major}.${v.minor}.${v.micro}`;
}

export function errnoText(error: unknown): string {
  const code = errorCode(error);
  if (code === 'ENOSPC') return 'no space left on device (ENOSPC)';
  if (code === 'EDQUOT') return 'disk quota exceeded (EDQUOT)';
  if (code === 'EIO') return 'I/O error (EIO)';
  return errorMessage(error);
}

export async function cancelMigration(qmp: QmpClient): Promise<void> {
  if (qmp.closed) return;
  try {
    const info = await qmp.execute('query-migrate', undefined, { timeoutMs: 5000 });
    if (info.status && !MIGRATION_DONE.has(info.status)) {
      await qmp.execute('migrate_cancel', undefined, { timeoutMs: 5000 });
      // Wait until QEMU has let go of the stream (it is then `postmigrate`: still the guest, paused).
      const deadline = Date.now() + 10_000;
      for (;;) {
        const now = await qmp.execute('query-migrate', undefined, { timeoutMs: 5000 });
        if (!now.status || MIGRATION_DONE.has(now.status) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch {
    /* QEMU gone or not answering: its exit is reported on its own */
  }
}

