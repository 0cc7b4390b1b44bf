/**
 * A fresh directory for every test of a suite, and what the test started in it
 * (QEMUs, mounts) undone after the test, before the directory is removed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'uvu';

export interface Scratch {
  /** This test's directory. */
  readonly root: string;
  /** Runs `undo` after the test, before the directory goes: the last one registered first. */
  defer(undo: () => unknown): void;
}

/** `prefix` names the directory in the temp dir (mkdtemp adds six characters). */
export function scratchPerTest(t: Test, prefix: string): Scratch {
  let root: string | undefined;
  const undos: Array<() => unknown> = [];
  t.before.each(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  t.after.each(async () => {
    // Every undo runs even when one fails (a QEMU left running would outlive the file); the first failure is reported.
    let failure: unknown;
    for (const undo of undos.splice(0).reverse()) {
      try {
        await undo();
      } catch (error) {
        failure ??= error;
      }
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = undefined;
    if (failure) throw failure;
  });
  return {
    get root() {
      if (!root) throw new Error('the scratch directory exists only while a test runs');
      return root;
    },
    defer(undo) {
      undos.push(undo);
    },
  };
}
