# How a network VM boots under hiboss (nix/lib/guest-boot.nix: the root on the
# member's disk, /nix/store the read-only closure image, no boot loader, the
# console on ttyS0) and the sizes it may ask hiboss for (hiboss.vm.*, read by
# nix/vm-image.nix into the manifest the daemon bounds again).
#
# A configuration that also imports NixOS's qemu-vm.nix (virtualisation.*)
# gets that module's file systems instead (it overrides fileSystems with
# mkVMOverride: the host's store over 9p), which hiboss never offers: such a
# configuration still works for `nixos-rebuild build-vm` and NixOS tests, and
# nix/vm-image.nix refuses to build it for hiboss, saying so.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.hiboss;
  boot = import ../nix/lib/guest-boot.nix { };
  size = description: min: max: mkOption {
    type = types.nullOr (types.ints.between min max);
    default = null;
    inherit description;
  };
in
{
  options.hiboss.vm = {
    # Bounds: daemon/launch/vm-manifest.ts (VmManifest), which reads these again.
    memoryMiB = size "Memory of the VM in MiB; null: hiboss's default (1024)." 64 262144;
    cores = size "Virtual CPUs; null: hiboss's default (1)." 1 64;
    diskMiB = size "Size of the member's disk in MiB when it is first made; null: hiboss's default (1024)." 64 4194304;
  };

  config = lib.mkIf cfg.enable boot.settings;
}
