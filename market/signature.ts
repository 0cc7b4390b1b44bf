/**
 * Entry signatures with OpenSSH's own tool: `ssh-keygen -Y sign` by the
 * publisher, `ssh-keygen -Y verify` against the member's allowed_signers file
 * (argv only; the signed bytes go through stdin, the signature through a 0600
 * file in a private temporary directory).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The signature namespace: a hiboss entry signature means nothing elsewhere (and vice versa). */
export const SIGNATURE_NAMESPACE = 'hiboss-market';
const TIMEOUT_MS = 30_000;

export class SignatureError extends Error {
  override name = 'SignatureError';
}

/** ssh-keygen's last words, one line, no controls, bounded. */
function lastWords(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim()).filter(Boolean);
  return (lines.at(-1) ?? 'no message').slice(0, 200);
}

/** Signs `payload` with the private key `keyFile`; returns the armored signature. */
export async function signPayload(payload: string, keyFile: string): Promise<string> {
  const result = await execa('ssh-keygen', ['-q', '-Y', 'sign', '-f', keyFile, '-n', SIGNATURE_NAMESPACE], {
    input: payload,
    reject: false,
    timeout: TIMEOUT_MS,
    maxBuffer: 64 * 1024,
    env: { LC_ALL: 'C' },
  });
  if (result.failed || !String(result.stdout).includes('BEGIN SSH SIGNATURE')) {
    throw new SignatureError(`ssh-keygen -Y sign with ${keyFile} failed: ${lastWords(String(result.stderr))}`);
  }
  return String(result.stdout).trim() + '\n';
}

export type Verdict = { ok: true } | { ok: false; reason: string };

/** Checks that `principal` (listed in `allowedSigners`) signed exactly `payload`. */
export async function verifyPayload(payload: string, signature: string, principal: string, allowedSigners: string): Promise<Verdict> {
  if (!fs.existsSync(allowedSigners)) return { ok: false, reason: `the allowed signers file ${allowedSigners} does not exist` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-sig-'));
  try {
    const sigFile = path.join(dir, 'entry.sig');
    fs.writeFileSync(sigFile, signature, { mode: 0o600 });
    const result = await execa('ssh-keygen', ['-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', SIGNATURE_NAMESPACE, '-s', sigFile], {
      input: payload,
      reject: false,
      timeout: TIMEOUT_MS,
      maxBuffer: 64 * 1024,
      env: { LC_ALL: 'C' },
    });
    if (result.exitCode === 0 && !result.timedOut) return { ok: true };
    return { ok: false, reason: `the signature does not verify for ${principal} (ssh-keygen: ${lastWords(`${String(result.stdout)}\n${String(result.stderr)}`)})` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
