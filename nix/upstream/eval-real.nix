# Development time: the generated modules of every wizard-producible config,
# evaluated with nixpkgs' real lib and the real NixOS module files in the
# cache (see check-real.mjs), stub-nixos.nix standing in for the rest of NixOS
# and the `pkgs` below for packages (nothing is built).
{ cache, realFiles, bootFiles ? [ ] }:
let
  lib = import (cache + "/lib");
  inherit (lib) types;
  realModules = map (file: cache + "/${file}") realFiles;

  # Packages are never built here: a derivation-shaped stand-in is enough.
  drv = name: mkDrv { inherit name; };
  mkDrv = attrs:
    let
      self = {
        type = "derivation";
        pname = attrs.name;
        version = "0";
        outPath = "/nix/store/00000000000000000000000000000000-${attrs.name}";
        drvPath = "/nix/store/00000000000000000000000000000000-${attrs.name}.drv";
        outputName = "out";
        meta = { };
        passthru = { };
        withKerberos = false;
        shellPath = "/bin/sh";
      } // attrs // {
        out = self;
        data = self;
        override = _: self;
        overrideAttrs = _: self;
        withPackages = _: self;
        buildEnv = _: self;
      };
    in
    self;
  named = names: lib.genAttrs names drv;

  # pkgs.formats: the types are what the real formats give freeform settings
  # (JSON values; INI sections of atoms; key-value atoms), generate builds nothing.
  jsonValue = types.nullOr (types.oneOf [ types.bool types.int types.float types.str types.path (types.attrsOf jsonValue) (types.listOf jsonValue) ]) // { description = "JSON value"; };
  iniAtom = types.nullOr (types.oneOf [ types.bool types.int types.float types.str ]) // { description = "INI atom (null, bool, int, float or string)"; };
  keyValueAtom = types.oneOf [ types.bool types.int types.float types.str ] // { description = "atom (bool, int, float or string)"; };
  format = type: { inherit type; generate = name: _: drv name; };

  pkgs = named [
    "murmur" "zerotierone" "xterm" "shadow" "util-linux" "envsubst" "coreutils" "mumble" "firefox"
    "yggdrasil" "hjson-go" "jq" "syncthing" "libxml2" "curl" "openssh" "wireguard-tools" "amneziawg-tools"
    "iproute2" "kmod" "tinc_pre" "makeWrapper" "iptables" "nftables" "nixos-firewall-tool" "sudo" "systemd"
    "forgejo-lts" "git" "gnupg" "mariadb" "perl" "nettools" "host" "iputils" "bash" "procps" "iw"
    "wirelesstools" "mstpd" "nginx" "php" "php83" "openssl"
    "mailcap" "openresty" "sway" "foot" "pcmanfm" "wl-clipboard"
    "pipewire" "wireplumber" "rtkit" "iana-etc"
  ] // {
    _type = "pkgs";
    formats = {
      json = _: format jsonValue;
      ini = _: format (types.attrsOf (types.attrsOf iniAtom));
      keyValue = _: format (types.attrsOf keyValueAtom);
    };
    writeText = name: _: drv name;
    writeTextFile = args: drv args.name;
    writeTextDir = name: _: drv name;
    concatText = name: _: drv name;
    writeScript = name: _: drv name;
    writeScriptBin = name: _: drv name;
    writeShellApplication = args: drv args.name;
    writeShellScript = name: _: drv name;
    runCommand = name: _: _: drv name;
    closureInfo = _: drv "closure-info";
    symlinkJoin = args: drv args.name;
    linkFarm = name: _: drv name;
    buildEnv = args: drv args.name;
    writers = { writeDash = name: _: drv name; writeBash = name: _: drv name; writeNginxConfig = name: _: drv name; };
    apparmorRulesFromClosure = _: _: drv "apparmor-rules";
    runtimeShell = "/bin/sh";
    libxcrypt = mkDrv { name = "libxcrypt"; enabledCryptSchemeIds = [ "y" "gy" "7" "2b" "2y" "2a" "6" "5" ]; };
    xorg = named [ "xauth" ];
    stdenv = { hostPlatform = { system = "x86_64-linux"; isBigEndian = false; is32bit = false; isx86 = true; isx86_64 = true; isAarch = false; isLinux = true; qemuArch = "x86_64"; libc = "glibc"; }; buildPlatform = { system = "x86_64-linux"; }; cc.libc = drv "glibc"; mkDerivation = args: drv args.name; };
    pkgsi686Linux = named [ "pipewire" ];
    buildPackages = named [ "openssh" "sudo" ];
    qemu_kvm = mkDrv { name = "qemu"; ga = drv "qemu-ga"; stdenv = { system = "x86_64-linux"; hostPlatform.isLinux = true; }; };
    OVMF = mkDrv { name = "OVMF"; fd = mkDrv { name = "OVMF-fd"; systemManagementModeRequired = false; firmware = "/nix/store/00000000000000000000000000000000-OVMF-fd/FV/OVMF_CODE.fd"; variables = "/nix/store/00000000000000000000000000000000-OVMF-fd/FV/OVMF_VARS.fd"; }; };
    nextcloud27 = mkDrv { name = "nextcloud"; version = "27.1.11"; };
    nextcloud29 = mkDrv { name = "nextcloud"; version = "29.0.16"; };
    nextcloud30 = mkDrv { name = "nextcloud"; version = "30.0.12"; };
    nextcloud31 = mkDrv { name = "nextcloud"; version = "31.0.6"; };
    nginxStable = mkDrv { name = "nginx"; version = "1.28.0"; modules = [ ]; };
    nginxModules = named [ "brotli" "zstd" ];
    fish = drv "fish";
    xonsh = drv "xonsh";
    zsh = drv "zsh";
  };
  # nixos/lib/utils.nix, the parts the real modules call.
  utils = {
    pam.autoOrderRules = rules: rules;
    escapeSystemdExecArgs = args: lib.concatMapStringsSep " " lib.escapeShellArg args;
    escapeSystemdPath = s: lib.replaceStrings [ "/" "-" " " ] [ "-" "\\x2d" "\\x20" ] (lib.removePrefix "/" s);
    toShellPath = shell: if types.shellPackage.check shell then "/run/current-system/sw${shell.shellPath}" else shell;
  };

  hibossLib = import ../lib { inherit lib; };
  generated = hibossLib.generateNixosModules (import ./wizard-configs.nix);

  evalConfig = module: lib.evalModules {
    modules = realModules ++ [
      ./stub-nixos.nix
      module
      ({ config, ... }: {
        _module.args = { inherit pkgs utils; };
        # Values the real modules read from parts of NixOS that are stubbed.
        security.pam.services = { };
        systemd.package = drv "systemd";
        boot.kernelPackages = { kernel = mkDrv { name = "linux"; version = "6.12"; config.isEnabled = _: true; features = { }; }; };
        programs.ssh.package = drv "openssh";
        ids =
          let groups = [ "root" "wheel" "kmem" "tty" "disk" "floppy" "uucp" "lp" "cdrom" "tape" "audio" "video" "dialout" "nogroup" "users" "nixbld" "utmp" "adm" "input" "kvm" "render" "sgx" "shadow" "murmur" "syncthing" "nginx" "pipewire" "systemd-journal" ]; in
          {
            uids = { root = 0; nobody = 65534; murmur = 19; nginx = 60; syncthing = 237; };
            gids = builtins.listToAttrs (lib.imap0 (gid: name: { inherit name; value = gid; }) groups);
          };
        # system/boot/systemd/journald.nix's group: the systemd initrd that
        # modules/guest-boot.nix turns on lists it (users-groups.nix reads its gid).
        users.groups.systemd-journal.gid = config.ids.gids.systemd-journal;
        environment.etc."os-release".source = drv "os-release";
        environment.etc."lsb-release".source = drv "lsb-release";
        system.build = { etc.passthru.targets = [ ]; toplevel = drv "nixos-system"; initialRamdisk = drv "initrd"; };
      })
    ];
  };

  # What hiboss asks of each config: its option values evaluate (so unknown
  # options and type errors surface), no assertion fails, and every enabled
  # service is a systemd unit.
  unitsOf = config:
    let s = config.services; in
    lib.optional s.murmur.enable "murmur"
    ++ lib.optional s.zerotierone.enable "zerotierone"
    ++ lib.optional config.hiboss.desktop.enable "hiboss-desktop"
    ++ lib.optionals s.yggdrasil.enable ([ "yggdrasil" ] ++ lib.optional s.yggdrasil.persistentKeys "yggdrasil-persistent-keys")
    ++ lib.optionals s.syncthing.enable [ "syncthing" "syncthing-init" ]
    ++ lib.optionals s.forgejo.enable [ "forgejo" "forgejo-secrets" ]
    ++ lib.optional s.openssh.enable "sshd"
    ++ lib.optional s.qemuGuest.enable "qemu-guest-agent"
    ++ lib.optionals s.nextcloud.enable [ "nextcloud-setup" "phpfpm-nextcloud" "nginx" "hiboss-nextcloud-password" ]
    ++ map (network: "tinc.${network}") (builtins.attrNames s.tinc.networks)
    ++ lib.concatMap (interface: [ "wireguard-${interface}" "wireguard-${interface}-key" ]) (builtins.attrNames config.networking.wireguard.interfaces)
    # (and the peers' units, whatever their escaped names)
    ++ lib.optionals (config.networking.wireguard.interfaces != { }) (builtins.filter (lib.hasInfix "-peer-") (builtins.attrNames config.systemd.services))
    # The firewall's unit: nftables.nix's when the nftables backend is on (the
    # members' source filter turns it on), firewall-iptables.nix's otherwise.
    ++ lib.optional config.networking.firewall.enable (if config.networking.nftables.enable then "nftables" else "firewall");
  # The settings hiboss defines, as attribute paths into config (the enabled
  # branches of nix/lib/service-settings.nix for this config's hiboss options).
  shaped = import ../lib/shape-configs.nix (import ./wizard-configs.nix);
  definedPaths = name: pathsOf (import ../lib/service-settings.nix { } { inherit name; inherit (shaped.${name}) hiboss; }).settings;
  pathsOf = import ./attr-paths.nix lib;
  # Forces a value through, stopping at packages (placeholders refer to themselves).
  deepForce = value:
    if lib.isDerivation value then true
    else if builtins.isAttrs value then builtins.all deepForce (builtins.attrValues value)
    else if builtins.isList value then builtins.all deepForce value
    else builtins.seq value true;
  # `extra`: more settings (plain values) evaluated with the config, for the self-test.
  summary = name: extra:
    let
      evaluated = evalConfig { imports = [ generated.${name} extra ]; };
      config = evaluated.config;
      # Each value hiboss sets, read back through the real option (unknown
      # options and values not of the option's type fail here).
      forced = builtins.all (path: deepForce (lib.getAttrFromPath path config)) (definedPaths name ++ pathsOf extra);
      failedIn = config: map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
      # Each expected unit exists and its definition evaluates (scripts, ExecStart, … with hiboss's values in them).
      missingIn = config:
        let units = builtins.attrNames config.systemd.services; in
        builtins.filter (unit: !(builtins.elem unit units && deepForce config.systemd.services.${unit})) (unitsOf config);
      # The VM hiboss runs is the vmVariant (build-vm.nix + qemu-vm.nix over the same config).
      vm = config.virtualisation.vmVariant;
      failed = failedIn config ++ map (message: "vmVariant: ${message}") (failedIn vm);
      missingUnits = missingIn config ++ map (unit: "vmVariant: ${unit}") (missingIn vm);
    in
    builtins.seq forced { inherit failed missingUnits; warnings = config.warnings; };

  # Facts for options.json: every option under the prefixes hiboss sets, from
  # lib's own documentation walk (names use <name> and * like the manual).
  prefixes = [
    "services.murmur" "services.zerotierone" "services.getty" "services.yggdrasil"
    "services.tinc" "services.syncthing" "services.forgejo" "services.nextcloud" "services.openssh"
    "services.nginx.defaultListenAddresses" "services.qemuGuest" "networking.hostName" "networking.firewall" "networking.interfaces"
    "networking.wireguard" "users.users" "security.sudo" "systemd.tmpfiles" "systemd.services"
    "environment.etc" "environment.systemPackages" "system.stateVersion" "virtualisation.vmVariant"
    "services.pipewire" "security.rtkit" "networking.hosts" "networking.nftables"
    "assertions" "warnings"
  ];
  relevant = name: builtins.any (prefix: name == prefix || lib.hasPrefix "${prefix}." name) prefixes;
  facts =
    let
      options = (evalConfig { }).options;
      docs = builtins.filter (doc: relevant doc.name) (lib.optionAttrSetToDocList options);
      # virtualisation.vmVariant is documented shallowly; hiboss sets options of
      # the VM build below it (qemu-vm.nix's virtualisation.*), recorded in full.
      vmDocs =
        let vm = (options.virtualisation.vmVariant.type.getSubOptions [ "virtualisation" "vmVariant" ]).virtualisation; in
        builtins.filter
          (doc: !(lib.hasPrefix "virtualisation.vmVariant.virtualisation.vmVariant" doc.name)
            && !(builtins.any (file: lib.hasSuffix "stub-nixos.nix" (toString file)) doc.declarations))
          (lib.optionAttrSetToDocList vm);
      render = value: let r = builtins.tryEval (builtins.deepSeq value value); in if r.success then r.value else null;
    in
    map (doc: {
      inherit (doc) name type;
      default = render (doc.default.text or null);
      declaredIn = map (file: let f = toString file; in
        if lib.hasSuffix "stub-nixos.nix" f then "stub"
        else lib.removePrefix "${toString cache}/" f) doc.declarations;
    }) (builtins.filter shown (docs ++ vmDocs));
  # Aliases of renamed and removed options are invisible: hiboss must not use them.
  shown = doc: (doc.visible or true) != false && !(doc.internal or false);
in
{
  results = builtins.mapAttrs (name: _: let r = builtins.tryEval (summary name { }); in if r.success then r.value else { error = true; }) generated;
  one = name: summary name { };
  # The check has teeth: each of these must fail (check-real.mjs runs them first).
  probe = name: extra: summary name extra;
  inherit facts;
  # For looking around: `real.evalConfig real.generated.NAME`.
  inherit evalConfig generated;
  # How every VM boots, against the real declarations of what it sets (eval-boot.nix).
  boot = import ./eval-boot.nix { inherit cache lib pkgs bootFiles; };
}
