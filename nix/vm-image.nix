# hiboss's own build of a network's VM: DATA for the member's QEMU.
#
#   nix build --file nix/vm-image.nix --argstr flake LOCKED-URL --argstr configuration NAME
#
# The result holds the guest's kernel and initrd (links into the store), an
# image of the system's closure (squashfs, mounted read-only at /nix/store in
# the guest) and hiboss-vm.json (daemon/launch/vm-manifest.ts reads it with its
# schema). Everything here is built in the Nix sandbox; nothing of it is run on
# the host: hiboss hands the files to QEMU, which loads them into the guest.
#
# What it reads of the configuration: system.build.{toplevel,kernel,
# initialRamdisk}, system.boot.loader.{kernelFile,initrdFile},
# boot.kernelParams and the sizes hiboss.vm.{memoryMiB,cores,diskMiB}
# (modules/guest-boot.nix, which also makes the system boot from these
# files). Never system.build.vm, virtualisation.* or any other program or
# QEMU option of the network's (test/nix/vm-image.test.ts evaluates it
# against a configuration whose such attributes throw). A configuration that
# imports NixOS's qemu-vm.nix is refused: that module replaces the file
# systems with the host's store over 9p, which hiboss never offers, so the
# VM could not boot.
#
# `tools` defaults to the configuration's own pkgs (its nixpkgs: closureInfo,
# runCommand, squashfsTools, jq); they run only in the sandbox, and what they
# make is read as data.
{ flake, configuration, tools ? null }:
let
  nixos = (builtins.getFlake flake).nixosConfigurations.${configuration};
  inherit (nixos) config;
  pkgs = if tools == null then nixos.pkgs else tools;
  toplevel = config.system.build.toplevel;
  kernel = "${config.system.build.kernel}/${config.system.boot.loader.kernelFile}";
  initrd = "${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}";
  closure = pkgs.closureInfo { rootPaths = [ toplevel ]; };
  sizeOf = name: config.hiboss.vm.${name} or null;
  qemuVm = config ? virtualisation && config.virtualisation ? qemu;
  manifest = builtins.toJSON {
    version = 1;
    name = configuration;
    toplevel = "${toplevel}";
    kernelParams = config.boot.kernelParams;
    memoryMiB = sizeOf "memoryMiB";
    cores = sizeOf "cores";
    diskSizeMiB = sizeOf "diskMiB";
  };
in
if qemuVm then
  throw ("hiboss: nixosConfigurations.${configuration} imports NixOS's qemu-vm.nix (virtualisation.qemu is declared): "
    + "its file systems (the host's /nix/store over 9p) replace the ones hiboss boots from, so it cannot boot under hiboss. "
    + "Remove that import; set the VM's sizes with hiboss.vm.{memoryMiB,cores,diskMiB}.")
else
pkgs.runCommand "hiboss-vm-${configuration}"
{
  nativeBuildInputs = [ pkgs.squashfsTools pkgs.jq ];
  inherit manifest;
  passAsFile = [ "manifest" ];
}
  ''
    mkdir -p $out
    ln -s ${kernel} $out/kernel
    ln -s ${initrd} $out/initrd
    # Each store path a top-level directory of the image, as NixOS's own make-squashfs lays it out.
    mksquashfs $(cat ${closure}/store-paths) $out/closure.img -keep-as-directory -all-root -no-progress -quiet
    jq --rawfile paths ${closure}/store-paths --argjson bytes "$(cat ${closure}/total-nar-size)" \
      '. + { closurePaths: ($paths | split("\n") | map(select(length > 0))), closureBytes: $bytes }' \
      "$manifestPath" > $out/hiboss-vm.json
  ''
