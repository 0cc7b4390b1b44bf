/**
 * A newer QEMU for the benches, beside Debian 12's 7.2 and without touching the
 * system: Debian 13's qemu-system-x86 (10.0) and the libraries it needs, fetched
 * with apt under a private configuration, unpacked into .cache/newer-qemu/, and
 * its binary pointed at its own loader and libraries (patchelf). Then
 *
 *   npm run build && node dist/bench/newer-qemu.js          (prints the PATH entry)
 *   PATH=$PWD/.cache/newer-qemu/bin:$PATH npm run bench:memory
 *
 * benches hibernation through what QEMU ≥ 9 offers (`file:` migration with
 * mapped-ram) with a real QEMU. Needs root (apt's download), patchelf, and the
 * Debian registry. Nothing of it is used by the tests or CI.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../shared/error-message.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOME = path.join(REPO, '.cache', 'newer-qemu');
const SUITE = 'trixie';
/** What a private apt must not fetch: the base system the libraries never load. */
const NOT_NEEDED = /^(adduser|base-passwd|cdebconf|debconf|dpkg|init-system-helpers|libdebconfclient0|libdebian-installer4|login|mawk|passwd|perl-base|sensible-utils|systemd.*|udev|libsystemd-shared)$/;

async function main(): Promise<void> {
  const apt = path.join(HOME, 'apt');
  for (const dir of ['etc/sources.list.d', 'lists/partial', 'cache/archives/partial', 'debs']) fs.mkdirSync(path.join(apt, dir), { recursive: true });
  fs.writeFileSync(
    path.join(apt, 'etc/sources.list.d', `${SUITE}.sources`),
    ['Types: deb', 'URIs: http://deb.debian.org/debian', `Suites: ${SUITE}`, 'Components: main', 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg', ''].join('\n'),
  );
  const status = path.join(apt, 'status');
  fs.writeFileSync(status, '');
  const options = [
    '-o', 'Dir::Etc::sourcelist=/dev/null',
    '-o', `Dir::Etc::sourceparts=${path.join(apt, 'etc/sources.list.d')}`,
    '-o', `Dir::State::Lists=${path.join(apt, 'lists')}`,
    '-o', `Dir::State::status=${status}`,
    '-o', `Dir::Cache=${path.join(apt, 'cache')}`,
    '-o', 'APT::Architecture=amd64',
  ];
  await execa('apt-get', [...options, 'update'], { stdio: 'inherit' });
  const { stdout } = await execa('apt-cache', [
    ...options, 'depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances',
    'qemu-system-x86', 'qemu-system-data',
  ]);
  const packages = [...new Set(stdout.split('\n').filter((line) => /^[a-z0-9]/.test(line)))].filter((name) => !NOT_NEEDED.test(name));
  const debs = path.join(apt, 'debs');
  await execa('apt-get', [...options, 'download', ...packages], { cwd: debs, stdio: 'inherit' });

  const root = path.join(HOME, 'root');
  fs.rmSync(root, { recursive: true, force: true });
  for (const deb of fs.readdirSync(debs).filter((file) => file.endsWith('.deb'))) await execa('dpkg-deb', ['-x', path.join(debs, deb), root]);

  // The binary loads Debian 13's libc and libraries from root/, never the system's
  // (RPATH, unlike RUNPATH, also serves the libraries' own dependencies); it finds
  // its firmware beside itself (../share/qemu).
  const binary = path.join(root, 'usr', 'bin', 'qemu-system-x86_64');
  const libs = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'].map((dir) => path.join(root, dir)).join(':');
  await execa('patchelf', ['--force-rpath', '--set-interpreter', path.join(root, 'usr', 'lib64', 'ld-linux-x86-64.so.2'), '--set-rpath', libs, binary]);
  const bin = path.join(HOME, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.rmSync(path.join(bin, 'qemu-system-x86_64'), { force: true });
  fs.symlinkSync(binary, path.join(bin, 'qemu-system-x86_64'));
  const { stdout: version } = await execa(path.join(bin, 'qemu-system-x86_64'), ['--version']);
  console.log(`${version.split('\n', 1)[0]}\nPATH=${bin}:$PATH`);
}

main().catch((error: unknown) => {
  console.error(`newer-qemu failed: ${errorMessage(error)}`);
  process.exit(1);
});
