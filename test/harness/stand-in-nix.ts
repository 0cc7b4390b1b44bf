/**
 * A stand-in `nix` for flake VM tests (no network, no nixpkgs here). It speaks
 * the two commands hiboss runs, with their real flags:
 *
 *   nix flake metadata … --json [--refresh] [--recreate-lock-file] FLAKE
 *       → {"url": "FLAKE?rev=REV", "revision": REV, "locked": {…}} (REV from the control dir)
 *   nix build … --out-link LINK --print-build-logs URL#nixosConfigurations.X.config.system.build.vm
 *       → "builds" STORE/N-REV-nixos-vm/bin/run-X-vm (the run script the test wrote) and makes LINK
 *         point at it, as nix does for a GC root
 *
 * The test steers it through files in its control dir: `revision`, `run-script`
 * (the generation's run script: e.g. QEMU with the real guest, good or panicking
 * or hanging), `build-fails` (stderr text of a failing build), `metadata-fails`,
 * `build-blocks` (the build waits while the file exists). Every call's argv is
 * appended to `calls` (fields separated by \x1f).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface StandInNix {
  /** Put first on the daemon's or launcher's PATH. */
  binDir: string;
  control: string;
  setRevision(revision: string): void;
  /** The run script the next build produces (a shell script; $QEMU_OPTS as NixOS's script passes it). */
  setRunScript(script: string): void;
  failBuilds(stderr: string | null): void;
  failMetadata(stderr: string | null): void;
  blockBuilds(blocked: boolean): void;
  /** Every call so far, each as its argv. */
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
for arg in "$@"; do
  if [ "$prev" = "--out-link" ]; then outlink="$arg"; fi
  prev="$arg"
  last="$arg"
done
rev=$(cat "$control/revision")
case "$1 $2" in
  "flake metadata")
    if [ -f "$control/metadata-fails" ]; then cat "$control/metadata-fails" >&2; exit 1; fi
    printf '{"url":"%s?rev=%s","revision":"%s","lastModified":1700000000,"locked":{"rev":"%s","lastModified":1700000000}}\\n' "$last" "$rev" "$rev" "$rev"
    ;;
  build*)
    echo "evaluating derivation '$last'" >&2
    if [ -f "$control/build-blocks" ]; then
      echo "building slowly" >&2
      while [ -f "$control/build-blocks" ]; do sleep 0.05; done
    fi
    if [ -f "$control/build-fails" ]; then cat "$control/build-fails" >&2; exit 1; fi
    n=$(cat "$control/counter" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$control/counter"
    conf=$(printf '%s' "$last" | sed -n 's/.*#nixosConfigurations\\.\\([A-Za-z0-9_-]*\\)\\.config\\.system\\.build\\.vm$/\\1/p')
    out="$control/store/$n-$rev-nixos-vm"
    echo "building '/nix/store/$n-$rev-nixos-vm.drv'..." >&2
    mkdir -p "$out/bin"
    cp "$control/run-script" "$out/bin/run-$conf-vm"
    chmod +x "$out/bin/run-$conf-vm"
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
  return {
    binDir,
    control,
    setRevision: (revision) => fs.writeFileSync(file('revision'), revision),
    setRunScript: (script) => fs.writeFileSync(file('run-script'), script),
    failBuilds: (stderr) => toggle('build-fails', stderr),
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

/** A NixOS-style run script that boots QEMU with `argv` (no shell words inside) plus $QEMU_OPTS. */
export function runScriptFor(argv: string[]): string {
  const quoted = argv.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  return `#!/bin/sh\nexec ${quoted} $QEMU_OPTS\n`;
}
