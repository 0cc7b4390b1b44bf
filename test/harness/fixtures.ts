/**
 * The set-up end-to-end test files repeat, as hooks on their suite: the real
 * guest made sure of once per file, and a fresh desktop for every test (ended
 * after it). Each returns a handle that always means the current test's one,
 * so a test file declares what it needs in one line and reads as its behaviour.
 */
import path from 'node:path';
import type { Test } from 'uvu';
import { ensureGuest, type Guest } from './guest.js';
import { startDesktop, type DesktopSession } from './session.js';
import type { WmOptions } from './wm.js';

/** The real guest (guest.ts), built if need be before the suite's first test. */
export function realGuestForSuite(t: Test): Guest {
  let guest: Guest | undefined;
  t.before(async () => {
    guest = await ensureGuest();
  });
  const current = () => guest ?? fail('the guest is there only once the suite has started');
  return {
    get kernel() {
      return current().kernel;
    },
    get initrd() {
      return current().initrd;
    },
  };
}

export interface TestDesktop extends DesktopSession {
  /** The daemon's runtime dir of VM `name`: its QMP and agent sockets, qemu.log. */
  runDir(name: string): string;
  /** The daemon's state dir of VM `name`: its memory image, its backups' history. */
  stateDir(name: string): string;
}

/**
 * A desktop of its own for every test (startDesktop: sandbox, real WM, private
 * bus, the daemons it starts), ended after the test — QEMUs included.
 */
export function desktopPerTest(t: Test, kind: 'sway' | 'i3', label: string, options: WmOptions = {}): TestDesktop {
  let session: DesktopSession | undefined;
  t.before.each(async () => {
    session = await startDesktop(kind, label, options);
  });
  t.after.each(async () => {
    const ending = session;
    session = undefined;
    await ending?.end();
  });
  const current = () => session ?? fail('a desktop is there only while a test runs');
  return {
    get sandbox() {
      return current().sandbox;
    },
    get wm() {
      return current().wm;
    },
    get bus() {
      return current().bus;
    },
    get wmc() {
      return current().wmc;
    },
    startDaemon: (config, daemonOptions) => current().startDaemon(config, daemonOptions),
    end: () => current().end(),
    runDir: (name) => path.join(current().sandbox.runtimeDir, 'hiboss', name),
    stateDir: (name) => path.join(current().sandbox.stateHome, 'hiboss', name),
  };
}

function fail(message: string): never {
  throw new Error(message);
}
