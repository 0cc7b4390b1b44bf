# hiboss's check that the Nix which builds a network's VM (the daemon's, on a
# multi-user install) builds in its sandbox. No file of a network's is read.
#
#   nix build --no-link --file nix/sandbox-probe.nix --argstr setup KEY [--arg escape true]
#
# The builder fails, printing a marker, when it can see the host's files
# (/nix/var, /etc/nix, /var, /home, /root are never inside the sandbox). An
# ordinary probe that builds proves ordinary builds are isolated; the escape
# probe (`__noChroot`, which a network's derivation could set) must NOT run:
# with `sandbox = relaxed` it runs outside and prints the marker.
# `setup` names the Nix setup (its settings files and environment), so nix's
# own cache keeps one result per setup and a changed setup is probed again.
{ setup, escape ? false }:
derivation ({
  name = "hiboss-sandbox-probe";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  inherit setup;
  args = [ "-c" ''
    for p in /nix/var /etc/nix /var /home /root; do
      if [ -e "$p" ]; then echo "hiboss-sandbox-probe: the build sees the host's $p"; exit 1; fi
    done
    echo isolated > "$out"
  '' ];
} // (if escape then { __noChroot = true; } else { }))
