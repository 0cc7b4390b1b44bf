# Home Manager module: the daemon as a user service, the sway/i3 binding and
# the waybar module. A plain module function, so the hiboss flake needs no
# home-manager input. `self` is the hiboss flake, for the default package.
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.hiboss;
  keybindings = builtins.readFile ./wm-keybindings.conf;
  waybarModule = import ./waybar-module.nix { hiboss = lib.getExe cfg.package; };
  unit = import ./lib/unit-settings.nix;
in
{
  options.services.hiboss = {
    enable = lib.mkEnableOption "the hiboss daemon";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "hiboss.packages.\${system}.default";
      description = "The hiboss package.";
    };
    keybindings = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Add `bindsym $mod+p nop hiboss toggle` to the sway and i3 configs.";
    };
    waybar.enable = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Add the custom/hiboss module to waybar's mainBar (modules-right).";
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      home.packages = [ cfg.package ];
      systemd.user.services.hiboss = {
        Unit = {
          Description = unit.description;
          PartOf = unit.partOf;
          After = unit.after;
        };
        Service = unit.service // {
          ExecStart = "${lib.getExe cfg.package} daemon";
          # The member's QEMU, qemu-img and passt for flake VMs, beside the session's PATH.
          Environment = [ "PATH=${lib.makeBinPath [ pkgs.qemu_kvm pkgs.passt ]}:/run/current-system/sw/bin:/etc/profiles/per-user/%u/bin:%h/.nix-profile/bin" ];
        };
        Install.WantedBy = unit.wantedBy;
      };
    }
    (lib.mkIf cfg.keybindings {
      wayland.windowManager.sway.extraConfig = keybindings;
      xsession.windowManager.i3.extraConfig = keybindings;
    })
    (lib.mkIf cfg.waybar.enable {
      programs.waybar.settings.mainBar = {
        modules-right = [ "custom/hiboss" ];
        "custom/hiboss" = waybarModule;
      };
    })
  ]);
}
