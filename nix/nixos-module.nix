# NixOS module for the machine that runs hiboss (not for network VMs): the
# package, flakes for building network VMs, and a user service per session.
# `self` is the hiboss flake, for the default package.
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.hiboss;
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
      description = "hiboss: workspaces bound to network VMs";
      partOf = [ "graphical-session.target" ];
      after = [ "graphical-session.target" ];
      wantedBy = [ "graphical-session.target" ];
      # nix for flake VMs; the run scripts bring their own QEMU.
      path = [ config.nix.package ];
      serviceConfig = {
        ExecStart = "${lib.getExe cfg.package} daemon";
        Restart = "on-failure";
        RestartSec = 2;
      };
    };
  };
}
