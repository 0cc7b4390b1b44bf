/**
 * A stand-in `nix` for flake VM tests (no network, no nixpkgs here). It speaks
 * the commands hiboss runs, with their real flags:
 *
 *   nix build … --no-link --print-build-logs --file …/sandbox-probe.nix --argstr setup KEY [--arg escape true]
 *       → the sandbox probe as real nix builds it under `sandbox` in the control dir: true: the probe builds
 *         and its escape twin is refused; false: the probe prints that it sees /nix/var; "relaxed": the
 *         escape twin does
 *   nix flake metadata … --json [--refresh] [--recreate-lock-file] FLAKE
 *       → {"url": "FLAKE?rev=REV", "revision": REV, "locked": {…}, "locks": {…}} (REV from the control dir;
 *         the lock file pins two inputs, nixpkgs (at `nixpkgs-rev` in the control dir, or 5e4fbfb…) and hiboss)
 *   nix build … --dry-run --file EXPR --argstr flake URL --argstr configuration NAME
 *       → the plan on stderr: 2 derivations (nixos-system-NAME-REV, hiboss-vm-NAME), 40 paths to fetch
 *         (120.50 MiB download, 512.25 MiB unpacked); or the text of `dry-run` in the control dir
 *   nix build … --out-link LINK --print-build-logs --file EXPR --argstr flake URL --argstr configuration NAME
 *       → "builds" STORE/N-REV-hiboss-vm-NAME the way nix/vm-image.nix lays it out: hiboss-vm.json (the
 *         manifest the test wrote, `manifest`), kernel and initrd (links to the guest's, copied into the
 *         store), closure.img (a real squashfs of the test's closure directories, `closure/`), and makes
 *         LINK point at it, as nix does for a GC root. The network's own outputs come along (the worst
 *         case): `run-script` as bin/run-NAME-vm, `qemu-package` as qemu/bin/qemu-system-x86_64,
 *         `qemu-options` as qemu-options.
 *
 * The test steers it through files in its control dir: `revision`, `manifest`,
 * `build-fails` (stderr text of a failing build), `metadata-fails`,
 * `build-blocks` (the build waits while the file exists), `sandbox`. Every
 * call's argv is appended to `calls` (fields separated by \x1f).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Guest } from './guest.js';

export interface StandInNix {
  /** Put first on the daemon's or launcher's PATH. */
  binDir: string;
  control: string;
  /** Where its builds live (FlakeLauncherOptions.storeDir). */
  storeDir: string;
  setRevision(revision: string): void;
  /** The revision the flake's lock file pins nixpkgs at (its next metadata). */
  setNixpkgs(revision: string): void;
  /** The guest the next builds boot (kernel and initrd copied into the store; until then, placeholder files). */
  setGuest(guest: Guest): void;
  /** The next builds' closure: store path names (each a directory with one file in closure.img). */
  setClosure(names: string[]): void;
  /** The manifest the next builds carry (closurePaths filled in from setClosure). */
  setManifest(manifest: Record<string, unknown>): void;
  /** The network's own outputs that come along in the build (scripts that must never run). */
  setHostile(files: { runScript?: string; qemuPackage?: string; qemuOptions?: string }): void;
  /**
   * As NIX_CONF_DIR: its nix.conf says what setSandbox set, so hiboss's key of the Nix setup changes
   * with it (a setup that passed the probe once is not probed again in that process).
   */
  confDir: string;
  /** The sandbox the probe builds meet (true, false, "relaxed"). */
  setSandbox(value: boolean | string): void;
  failBuilds(stderr: string | null): void;
  /** What the next dry runs print (null: the default plan). */
  setDryRun(stderr: string | null): void;
  failMetadata(stderr: string | null): void;
  blockBuilds(blocked: boolean): void;
  /** Every call so far, each as its argv (isSandboxProbe tells the sandbox probe's builds). */
  calls(): string[][];
  /** The pid of the last nix started. */
  lastPid(): number;
  /** The nice value the last nix ran at. */
  lastNice(): number;
}

const SCRIPT = `#!/bin/sh
control="$(cd "$(dirname "$0")/../control" && pwd)"
{ printf '%s\\037' "$@"; echo; } >> "$control/calls"
echo $$ > "$control/pid"
cut -d' ' -f19 /proc/$$/stat > "$control/nice"
last=""
outlink=""
prev=""
flake=""
conf=""
argname=""
for arg in "$@"; do
  if [ "$prev" = "--out-link" ]; then outlink="$arg"; fi
  if [ "$prev" = "--argstr" ]; then argname="$arg"; fi
  if [ "$argname" = flake ] && [ "$prev" = flake ]; then flake="$arg"; fi
  if [ "$argname" = configuration ] && [ "$prev" = configuration ]; then conf="$arg"; fi
  prev="$arg"
  last="$arg"
done
rev=$(cat "$control/revision")
case "$*" in
  build*sandbox-probe.nix*)
    sandbox=$(cat "$control/sandbox")
    escape=no
    case "$*" in *"--arg escape true"*) escape=yes ;; esac
    case "$sandbox $escape" in
      "true yes") echo "error: derivation '/nix/store/x-hiboss-sandbox-probe.drv' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'" >&2; exit 1 ;;
      "true no"|'"relaxed" no') exit 0 ;;
      *) echo "hiboss-sandbox-probe> hiboss-sandbox-probe: the build sees the host's /nix/var" >&2; exit 1 ;;
    esac ;;
esac
case "$*" in
  build*--dry-run*)
    if [ -f "$control/dry-run" ]; then cat "$control/dry-run" >&2; else
      echo "these 2 derivations will be built:" >&2
      echo "  /nix/store/00000000000000000000000000000000-nixos-system-$conf-$rev.drv" >&2
      echo "  /nix/store/11111111111111111111111111111111-hiboss-vm-$conf.drv" >&2
      echo "these 40 paths will be fetched (120.50 MiB download, 512.25 MiB unpacked):" >&2
      echo "  /nix/store/22222222222222222222222222222222-linux-6.1" >&2
    fi
    exit 0 ;;
esac
case "$1 $2" in
  "flake metadata")
    if [ -f "$control/metadata-fails" ]; then cat "$control/metadata-fails" >&2; exit 1; fi
    printf '{"url":"%s?rev=%s","revision":"%s","lastModified":1700000000,"locked":{"rev":"%s","lastModified":1700000000},' "$last" "$rev" "$rev" "$rev"
    printf '"locks":{"root":"root","version":7,"nodes":{"root":{"inputs":{"nixpkgs":"nixpkgs","hiboss":"hiboss"}},'
    nixpkgs=$(cat "$control/nixpkgs-rev" 2>/dev/null || echo 5e4fbfb6b3de1aa2872b76d49fafc942626e2add)
    printf '"nixpkgs":{"locked":{"type":"github","owner":"NixOS","repo":"nixpkgs","rev":"%s","narHash":"sha256-x"}},' "$nixpkgs"
    printf '"hiboss":{"inputs":{"nixpkgs":["nixpkgs"]},"locked":{"type":"git","url":"https://git.hiboss.example/hiboss","rev":"0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff"}}}}}\\n'
    ;;
  build*)
    echo "evaluating derivation 'hiboss-vm-$conf' for $flake" >&2
    if [ -f "$control/build-blocks" ]; then
      echo "building slowly" >&2
      while [ -f "$control/build-blocks" ]; do sleep 0.05; done
    fi
    if [ -f "$control/build-fails" ]; then cat "$control/build-fails" >&2; exit 1; fi
    n=$(cat "$control/counter" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$control/counter"
    store="$control/store"
    out="$store/$n-$rev-hiboss-vm-$conf"
    echo "building '/nix/store/$n-$rev-hiboss-vm-$conf.drv'..." >&2
    mkdir -p "$out/bin" "$out/qemu/bin"
    cp "$control/manifest" "$out/hiboss-vm.json"
    ln -s "$store/guest-kernel" "$out/kernel"
    ln -s "$store/guest-initrd" "$out/initrd"
    mksquashfs $(ls -d "$control/closure/"*) "$out/closure.img" -keep-as-directory -all-root -no-progress -quiet >&2 || exit 1
    [ -f "$control/run-script" ] && cp "$control/run-script" "$out/bin/run-$conf-vm" && chmod +x "$out/bin/run-$conf-vm"
    [ -f "$control/qemu-package" ] && cp "$control/qemu-package" "$out/qemu/bin/qemu-system-x86_64" && chmod +x "$out/qemu/bin/qemu-system-x86_64"
    [ -f "$control/qemu-options" ] && cp "$control/qemu-options" "$out/qemu-options"
    if [ -n "$outlink" ]; then ln -sfn "$out" "$outlink" || exit 1; fi
    echo "$out"
    ;;
  *)
    echo "stand-in nix: unexpected call: $*" >&2; exit 2
    ;;
esac
`;

export function makeStandInNix(root: string): StandInNix {
  const binDir = path.join(root, 'bin');
  const control = path.join(root, 'control');
  fs.mkdirSync(binDir, { recursive: true });
  fs.mkdirSync(path.join(control, 'store'), { recursive: true });
  fs.writeFileSync(path.join(binDir, 'nix'), SCRIPT, { mode: 0o755 });
  const file = (name: string) => path.join(control, name);
  const toggle = (name: string, text: string | null) => (text === null ? fs.rmSync(file(name), { force: true }) : fs.writeFileSync(file(name), text));
  fs.writeFileSync(file('revision'), '0000000000000000000000000000000000000000');
  fs.writeFileSync(file('sandbox'), 'true');
  fs.mkdirSync(file('etc'));
  fs.writeFileSync(path.join(file('etc'), 'nix.conf'), 'sandbox = true\n');
  const storeDir = path.join(control, 'store');
  let closure: string[] = [];
  const setClosure = (names: string[]) => {
    fs.rmSync(file('closure'), { recursive: true, force: true });
    for (const name of names) {
      fs.mkdirSync(path.join(file('closure'), name), { recursive: true });
      fs.writeFileSync(path.join(file('closure'), name, 'content'), `${name}\n`);
    }
    closure = names;
  };
  let manifest: Record<string, unknown> = {};
  const writeManifest = () =>
    fs.writeFileSync(file('manifest'), JSON.stringify({ ...manifest, closurePaths: closure.map((name) => `/nix/store/${name}`) }));
  setClosure(['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-linux-6.1']);
  // Until setGuest: files that are no kernel (builds that are never booted).
  fs.writeFileSync(path.join(storeDir, 'guest-kernel'), 'not a kernel\n');
  fs.writeFileSync(path.join(storeDir, 'guest-initrd'), 'not an initrd\n');
  return {
    binDir,
    control,
    storeDir,
    setRevision: (revision) => fs.writeFileSync(file('revision'), revision),
    setNixpkgs: (revision) => fs.writeFileSync(file('nixpkgs-rev'), revision),
    setGuest: (guest) => {
      for (const [from, name] of [[guest.kernel, 'guest-kernel'], [guest.initrd, 'guest-initrd']] as const) fs.copyFileSync(from, path.join(storeDir, name));
    },
    setClosure: (names) => {
      setClosure(names);
      writeManifest();
    },
    setManifest: (next) => {
      manifest = next;
      writeManifest();
    },
    setHostile: (files) => {
      if (files.runScript !== undefined) fs.writeFileSync(file('run-script'), files.runScript);
      if (files.qemuPackage !== undefined) fs.writeFileSync(file('qemu-package'), files.qemuPackage);
      if (files.qemuOptions !== undefined) fs.writeFileSync(file('qemu-options'), files.qemuOptions);
    },
    confDir: file('etc'),
    setSandbox: (value) => {
      fs.writeFileSync(file('sandbox'), JSON.stringify(value));
      fs.writeFileSync(path.join(file('etc'), 'nix.conf'), `sandbox = ${String(value)}\n`);
    },
    failBuilds: (stderr) => toggle('build-fails', stderr),
    setDryRun: (stderr) => toggle('dry-run', stderr),
    failMetadata: (stderr) => toggle('metadata-fails', stderr),
    blockBuilds: (blocked) => toggle('build-blocks', blocked ? '' : null),
    calls: () => {
      try {
        return fs
          .readFileSync(file('calls'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split('\x1f').slice(0, -1));
      } catch {
        return [];
      }
    },
    lastPid: () => Number(fs.readFileSync(file('pid'), 'utf8').trim()),
    lastNice: () => Number(fs.readFileSync(file('nice'), 'utf8').trim()),
  };
}

/** A build of hiboss's sandbox probe (nix/sandbox-probe.nix), not of a VM. */
export function isSandboxProbe(argv: string[]): boolean {
  return argv[0] === 'build' && argv.some((arg) => arg.endsWith('/sandbox-probe.nix'));
}

/** A manifest as nix/vm-image.nix writes it for the test guest; `cmdline`: the guest's knobs. */
export function guestManifest(configuration: string, cmdline = '', sizes: { memoryMiB?: number; cores?: number; diskSizeMiB?: number } = {}): Record<string, unknown> {
  return {
    version: 1,
    name: configuration,
    toplevel: '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme',
    kernelParams: `console=ttyS0 quiet panic=-1 ${cmdline}`.trim().split(/\s+/),
    memoryMiB: sizes.memoryMiB ?? 128,
    cores: sizes.cores ?? 1,
    diskSizeMiB: sizes.diskSizeMiB ?? 64,
    closureBytes: 123456789,
  };
}
