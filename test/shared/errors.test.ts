/**
 * One helper for a caught value's message and errno code (shared/error-message.ts),
 * and the daemon's one error tree (daemon/errors.ts): every error the daemon raises on
 * purpose is a DaemonError named after its class.
 */
import fs from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonError, RequestError } from '../../daemon/errors.js';
import { BackupCancelledError, BackupJobError } from '../../daemon/backup/job.js';
import { BackupError } from '../../daemon/backup/engine.js';
import { ChainError } from '../../daemon/backup/chain.js';
import { HibernateError } from '../../daemon/vm/hibernate.js';
import { VmStartError } from '../../daemon/vm/vm-process.js';
import { UpdateRefusedError } from '../../daemon/updates/updater.js';
import { GenerationsFileError } from '../../daemon/updates/generations.js';
import { NameTakenError } from '../../daemon/dbus-service.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';

const t = suite('errors');

t('errorMessage: an Error, a thrown string, an object with a message, anything else', () => {
  assert.is(errorMessage(new TypeError('bad')), 'bad');
  assert.is(errorMessage('plain'), 'plain');
  assert.is(errorMessage({ message: 'from an object' }), 'from an object');
  assert.is(errorMessage({ message: 42 }), '[object Object]');
  assert.is(errorMessage(undefined), 'undefined');
  assert.is(errorMessage(null), 'null');
});

t('errorCode: the errno code of a real failed call, or undefined', () => {
  let caught: unknown;
  try {
    fs.readFileSync('/nonexistent/hiboss');
  } catch (error) {
    caught = error;
  }
  assert.is(errorCode(caught), 'ENOENT');
  assert.is(errorCode(new Error('no code')), undefined);
  assert.is(errorCode({ code: 7 }), undefined);
  assert.is(errorCode('ENOENT'), undefined);
});

t('the daemon\'s errors are one tree, each named after its class', () => {
  for (const Class of [HibernateError, VmStartError, BackupError, BackupJobError, BackupCancelledError, ChainError, GenerationsFileError, NameTakenError]) {
    const error = new Class('why');
    assert.ok(error instanceof DaemonError, Class.name);
    assert.is(error.name, Class.name);
    assert.is(error.message, 'why');
  }
  const refused = new UpdateRefusedError('NoSuchVm', 'no VM named "x"');
  assert.ok(refused instanceof RequestError && refused instanceof DaemonError);
  assert.is(refused.kind, 'NoSuchVm');
  assert.is(refused.name, 'UpdateRefusedError');
  assert.ok(new BackupCancelledError('stop') instanceof BackupJobError);
});

t.run();
