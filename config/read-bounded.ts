/**
 * Reading a file that a user or another program can replace: regular files
 * only, never blocking, never more than a cap. `statSync().size` cannot be
 * trusted for that — it is 0 for /dev/zero, and opening a FIFO blocks until a
 * writer comes — so the file is opened non-blocking, the opened descriptor is
 * checked, and the read stops at the cap whatever the size claimed.
 */
import fs from 'node:fs';

export class UnsafeFileError extends Error {
  override name = 'UnsafeFileError';
  constructor(readonly file: string, readonly reason: 'not-regular' | 'too-large', message: string) {
    super(message);
  }
}

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The file's text, or an UnsafeFileError (not a regular file; larger than
 * `maxBytes`). Other errors (ENOENT, EACCES …) are thrown as they are.
 */
export function readFileBounded(file: string, maxBytes: number): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new UnsafeFileError(file, 'not-regular', `${file} is ${kindOf(stat)}, not a regular file`);
    const chunks: Buffer[] = [];
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let total = 0;
    // Up to one byte past the cap, whatever fstat claimed: that byte tells "too large".
    for (;;) {
      const read = fs.readSync(fd, chunk, 0, Math.min(chunk.length, maxBytes + 1 - total), null);
      if (read === 0) break;
      chunks.push(Buffer.from(chunk.subarray(0, read)));
      total += read;
      if (total > maxBytes) throw new UnsafeFileError(file, 'too-large', `${file} is larger than ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
