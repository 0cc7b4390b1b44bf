# NixOS module for the machine that runs hiboss (not for network VMs): the
# package, flakes for building network VMs, and a user service per session.
# `self` is the hiboss flake, for the default package.
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.hiboss;
  unit = import ./lib/unit-settings.nix;
in
{
  options.services.hiboss = {
    enable = lib.mkEnableOption "the hiboss daemon in graphical user sessions";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "hiboss.packages.\${system}.default";
      description = "The hiboss package.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];
    # Flake VMs are built with `nix build FLAKE#…`.
    nix.settings.experimental-features = [ "nix-command" "flakes" ];
    # QEMU needs /dev/kvm; members must be in the kvm group (users.users.NAME.extraGroups).
    boot.kernelModules = lib.mkDefault [ "kvm-intel" "kvm-amd" ];

    systemd.user.services.hiboss = {
      inherit (unit) description partOf after wantedBy;
      # nix builds flake VMs; the member's QEMU, qemu-img and passt run them
      # (nothing of a network's build is run: README "What a network can and cannot do").
      path = [ config.nix.package pkgs.qemu_kvm pkgs.passt ];
      serviceConfig = unit.service // {
        ExecStart = "${lib.getExe cfg.package} daemon";
      };
    };
  };
}
