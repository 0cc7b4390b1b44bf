# Development time: how a network VM boots (modules/guest-boot.nix, and the
# share modules of nix/lib/guest-shares.nix) evaluated against the REAL NixOS
# declarations of the options it sets, read from the cache (see check-real.mjs,
# BOOT_FILES): kernel.nix, tasks/filesystems.nix, stage-1.nix,
# systemd/initrd.nix and loader/grub/grub.nix, with nixos/lib/utils.nix.
#
# Only their declarations are loaded (each file's `options`; its `config` and
# `imports` are left out): their implementations build the initrd, the
# bootloader and the systemd units, and need most of NixOS (systemd-lib, udev,
# the initrd builders, …) — far beyond what a stand-in can hold. Declarations
# include each option's type, so what the real modules do to a value on its
# way in still happens: fileSystems' submodules are the real ones (autoFormat
# adds x-systemd.makefs, a file system needed for boot x-initrd.mount).
#
# The contract is data without a config (nix/lib/guest-boot.nix), so one
# evaluation stands for every wizard-producible config.
{ cache, lib, pkgs, bootFiles }:
let
  # A real module file's option declarations, under its own name (the facts' declaredIn).
  declarationsOf = file:
    let path = cache + "/${file}"; in
    { config, options, lib, pkgs, utils, ... }@args: {
      _file = toString path;
      options = (import path args).options;
    };

  bootSettings = (import ../lib/guest-boot.nix { }).settings;
  shareModules = (import ../lib/guest-shares.nix).kernelModules;

  evalBoot = extra: lib.evalModules {
    modules = map declarationsOf bootFiles ++ [
      ../../modules/guest-boot.nix
      ({ config, ... }: {
        # hiboss.enable is declared by modules/hiboss.nix, which needs the whole
        # service set; boot.isContainer (system/boot/kernel.nix's neighbour
        # modules) is read by the grub and initrd defaults.
        options.hiboss.enable = lib.mkOption { type = lib.types.bool; };
        options.boot.isContainer = lib.mkOption { type = lib.types.bool; default = false; };
        config = {
          _module.args = {
            inherit pkgs;
            utils = import (cache + "/nixos/lib/utils.nix") { inherit lib config pkgs; };
          };
          hiboss.enable = true;
          # What modules/guest-shares.nix sets besides its unit.
          boot.kernelModules = shareModules;
        };
      })
      extra
    ];
  };

  pathsOf = import ./attr-paths.nix lib;

  # Each value set, read back through the real option (an unknown option or a
  # value not of the option's type fails here); `extra` for the self-test.
  check = extra:
    let
      config = (evalBoot extra).config;
      paths = pathsOf bootSettings ++ [ [ "boot" "kernelModules" ] ] ++ pathsOf extra;
    in
    builtins.deepSeq (map (path: lib.getAttrFromPath path config) paths) {
      checked = map (lib.concatStringsSep ".") paths;
      # What the real fileSystems submodules make of the contract's mounts.
      fileSystems = builtins.mapAttrs (_: fs: { inherit (fs) device fsType options neededForBoot autoFormat; }) config.fileSystems;
    };

  # The options the contract sets, as options.json records facts.
  factPaths = [
    [ "fileSystems" ]
    [ "boot" "loader" "grub" "enable" ]
    [ "boot" "initrd" "systemd" "enable" ]
    [ "boot" "initrd" "availableKernelModules" ]
    [ "boot" "initrd" "kernelModules" ]
    [ "boot" "kernelParams" ]
    [ "boot" "kernelModules" ]
  ];
  facts =
    let
      options = (evalBoot { }).options;
      docs = lib.concatMap (path: lib.optionAttrSetToDocList (lib.setAttrByPath path (lib.getAttrFromPath path options))) factPaths;
      shown = doc: (doc.visible or true) != false && !(doc.internal or false);
      render = value: let r = builtins.tryEval (builtins.deepSeq value value); in if r.success then r.value else null;
    in
    map (doc: {
      inherit (doc) name type;
      default = render (doc.default.text or null);
      declaredIn = map (file: lib.removePrefix "${toString cache}/" (toString file)) doc.declarations;
    }) (builtins.filter shown docs);
in
{
  inherit check facts;
}
