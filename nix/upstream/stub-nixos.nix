# Development-time stand-in for "the rest of NixOS": the options that the real
# module files in .cache/nixpkgs (see check-real.mjs) define or read but that
# are declared by NixOS modules not read here (systemd units, /etc, packages,
# boot, PAM, …). No service option lives here: every option of a service hiboss
# configures is declared by a real module file. hiboss itself sets only these
# stubbed ones: assertions, warnings, environment.etc, environment.systemPackages,
# systemd.services (hiboss-nextcloud-password, zerotierone's preStart),
# nixpkgs.hostPlatform and, for how the VM boots (modules/guest-boot.nix),
# fileSystems, boot.loader, boot.initrd.* and boot.kernelParams. Those boot
# options are checked apart, against the declarations of their real files
# (eval-boot.nix; their implementations need far more of NixOS than this
# stand-in holds). Recorded as `stub` in options.json.
#
# Leaves are declared exactly where the real modules need them (a coarser
# stub would collide with the real declarations below it), with a permissive
# type (`loose`: attribute sets merge, lists and strings concatenate) and the
# default NixOS gives them.
{ lib, ... }:
let
  inherit (lib) mkOption types;

  # Merges like NixOS's own types for these places would: attribute sets
  # recursively (honouring mkIf/mkDefault inside), lists and strings (lines)
  # concatenated, anything else must agree.
  loose = types.mkOptionType {
    name = "loose";
    description = "anything (stub)";
    check = _: true;
    merge = loc: defs:
      let values = map (def: def.value) defs; in
      if builtins.all (v: builtins.isAttrs v && !lib.isDerivation v) values then (types.attrsOf loose).merge loc defs
      else if builtins.all builtins.isList values then builtins.concatLists values
      else if builtins.all builtins.isString values then lib.concatStringsSep "\n" values
      else lib.mergeEqualOption loc defs;
  };
  stub = default: mkOption { type = loose; inherit default; };
  units = mkOption { type = types.attrsOf loose; default = { }; };

  # "a.b.c" = default
  leaves = {
    # misc/assertions.nix, misc/meta.nix, misc/ids.nix, misc/nixpkgs.nix
    "assertions" = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    "warnings" = mkOption { type = types.listOf types.str; default = [ ]; };
    "meta" = stub { };
    "ids" = stub { };
    # misc/nixpkgs.nix (hiboss's generateNixosModules sets nixpkgs.hostPlatform)
    "nixpkgs.hostPlatform" = stub "x86_64-linux";
    "nixpkgs.pkgs" = mkOption { type = types.pkgs; };
    "lib" = stub {
      # system/boot/kernel_config.nix
      kernelConfig = { isEnabled = option: { assertion = _: true; }; isYes = option: { assertion = _: true; }; };
    };
    "documentation" = stub { nixos.enable = true; doc.enable = true; };
    "console.enable" = stub true;
    "hardware.graphics.enable" = stub false;
    "nix.enable" = stub true;
    "nix.package" = stub null;

    # system/activation, system/build
    "system.build" = mkOption { type = types.lazyAttrsOf loose; default = { }; };
    "system.activationScripts" = stub { };
    "system.checks" = stub [ ];
    "system.path" = stub { ignoreCollisions = false; postBuild = ""; };
    "system.nssModules" = stub { path = ""; };
    "system.name" = stub "nixos";
    "system.switch.enable" = stub true;
    "system.requiredKernelConfig" = stub [ ];
    "system.boot.loader.initrdFile" = stub "initrd";

    # config/system-path.nix, system/etc/etc.nix, config/shells-environment.nix
    "environment.systemPackages" = mkOption { type = types.listOf loose; default = [ ]; };
    # hiboss writes /etc files: the entry options it uses are typed as etc.nix types them.
    "environment.etc" = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        freeformType = types.attrsOf loose;
        options = {
          text = mkOption { type = types.nullOr types.lines; default = null; };
          mode = mkOption { type = types.str; default = "symlink"; };
          source = mkOption { type = loose; };
        };
      });
    };
    "environment.profiles" = stub [ ];
    "environment.sessionVariables" = stub { };
    "environment.pathsToLink" = stub [ ];
    "environment.extraOutputsToInstall" = stub [ ];
    "users.defaultUserShell" = stub null;

    # system/boot/systemd.nix and friends
    "systemd.package" = stub null;
    "systemd.services" = units;
    "systemd.sockets" = units;
    "systemd.timers" = units;
    "systemd.targets" = units;
    "systemd.slices" = units;
    "systemd.user.services" = units;
    "systemd.user.sockets" = units;
    "systemd.packages" = stub [ ];
    "systemd.defaultUnit" = stub "multi-user.target";
    "systemd.additionalUpstreamSystemUnits" = stub [ ];
    "systemd.additionalUpstreamUserUnits" = stub [ ];
    "systemd.sysusers.enable" = stub false;
    "systemd.network.enable" = stub false;
    "systemd.network.links" = units;
    "systemd.network.netdevs" = units;
    "systemd.network.networks" = units;

    # system/boot/kernel.nix, stage-1, systemd initrd
    "boot.isContainer" = stub false;
    "boot.kernelModules" = stub [ ];
    "boot.kernelParams" = stub [ ];
    "boot.extraModulePackages" = stub [ ];
    "boot.extraModprobeConfig" = stub "";
    "boot.kernel.sysctl" = stub { };
    "boot.kernelPackages" = stub { };
    "boot.initrd.systemd.enable" = stub false;
    "boot.initrd.systemd.contents" = units;
    # Entries as systemd/initrd.nix types them: a path given as a string becomes
    # { source; target; } (tmpfiles.nix reads .target once the systemd initrd is on).
    "boot.initrd.systemd.storePaths" = mkOption {
      type = types.listOf (types.coercedTo types.str (path: { source = path; target = path; }) (types.attrsOf loose));
      default = [ ];
    };
    "boot.initrd.systemd.services" = units;
    "boot.initrd.systemd.additionalUpstreamUnits" = stub [ ];
    "boot.initrd.availableKernelModules" = stub [ ];
    "boot.initrd.kernelModules" = stub [ ];
    "boot.initrd.luks.devices" = units;
    "boot.postBootCommands" = stub "";
    # system/boot/modprobe.nix (what nftables.nix sets)
    "boot.blacklistedKernelModules" = stub [ ];
    "boot.tmp" = stub { useTmpfs = false; tmpfsSize = "50%"; };
    "boot.loader" = stub { efi = { efiSysMountPoint = "/boot"; canTouchEfiVariables = false; }; systemd-boot.enable = false; };
    # tasks/filesystems.nix, config/swap.nix
    "fileSystems" = units;
    "swapDevices" = stub [ ];

    # security/pam.nix, wrappers, polkit, apparmor, ca.nix, google-oslogin
    "security.pam.services" = units;
    "security.pam.loginLimits" = stub [ ];
    "security.wrappers" = units;
    "security.polkit.enable" = stub false;
    "security.apparmor.policies" = units;
    "security.pki.caBundle" = stub "/etc/ssl/certs/ca-certificates.crt";
    "security.pki.installCACerts" = stub true;
    "security.googleOsLogin.enable" = stub false;

    # programs/ssh.nix, programs/{fish,xonsh,zsh}.nix
    "programs.ssh.package" = stub null;
    "programs.ssh.setXAuthLocation" = stub false;
    "programs.ssh.knownHosts" = units;
    "programs.fish.enable" = stub false;
    "programs.xonsh.enable" = stub false;
    "programs.zsh.enable" = stub false;

    # services/audio/pulseaudio.nix, services/audio/jack.nix, hardware/bluetooth.nix (what pipewire.nix and wireplumber.nix check)
    "services.pulseaudio.enable" = stub false;
    "services.jack.jackd.enable" = stub false;
    "hardware.bluetooth.hsphfpd.enable" = stub false;
    # services/system/dbus.nix, hardware/udev.nix, display-managers, mstpd
    "services.dbus.packages" = stub [ ];
    "services.udev.extraRules" = stub "";
    "services.udev.packages" = stub [ ];
    "services.displayManager" = stub { enable = false; };
    "services.mstpd" = stub { };
    # what qemu-vm.nix sets in the VM build (timesyncd, connman, X11)
    "services.timesyncd.enable" = stub true;
    "services.connman.enable" = stub false;
    "services.xserver.resolutions" = mkOption { type = types.listOf (types.attrsOf types.ints.positive); default = [ ]; };
    "services.xserver.videoDrivers" = stub [ ];
    "services.xserver.defaultDepth" = stub 0;
    "services.xserver.monitorSection" = stub "";
    # databases the real service modules can provision (hiboss uses sqlite)
    "services.postgresql" = stub { settings.port = 5432; };
    "services.mysql" = stub { };
    "services.redis.servers" = mkOption { type = types.attrsOf loose; default = { }; apply = builtins.mapAttrs (name: server: { unixSocket = "/run/redis-${name}/redis.sock"; } // server); };
    # services/web-apps/nextcloud-notify_push.nix, services/logging/logrotate.nix, security/acme
    "services.nextcloud.notify_push.enable" = stub false;
    "services.logrotate.settings" = units;
    "security.acme.certs" = units;

    # networking: dhcpcd.nix, wireless (wpa_supplicant.nix)
    "networking.dhcpcd" = stub { };
    "networking.wireless.enable" = stub false;
    "networking.usePredictableInterfaceNames" = stub true;

    # virtualisation/openvswitch.nix
    "virtualisation.vswitch" = stub { };
  };
in
{
  options = builtins.foldl' lib.recursiveUpdate { } (lib.mapAttrsToList (path: option: lib.setAttrByPath (lib.splitString "." path) option) leaves);
}
