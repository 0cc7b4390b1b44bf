# hiboss's own build of a network's VM (issue 21): DATA for the member's QEMU.
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
# boot.kernelParams and the sizes virtualisation.{memorySize,cores,diskSize}
# when the configuration declares them. Never system.build.vm,
# virtualisation.qemu.* or any other program or QEMU option of the network's
# (test/nix/vm-image.test.ts evaluates it against a configuration whose such
# attributes throw).
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
  sizeOf = name: config.virtualisation.${name} or null;
  manifest = builtins.toJSON {
    version = 1;
    name = configuration;
    toplevel = "${toplevel}";
    kernelParams = config.boot.kernelParams;
    memoryMiB = sizeOf "memorySize";
    cores = sizeOf "cores";
    diskSizeMiB = sizeOf "diskSize";
  };
in
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
