# Development time: the generated modules of every wizard-producible config,
# evaluated with nixpkgs' real lib and the real NixOS module files in the
# cache (see check-real.mjs), stub-nixos.nix standing in for the rest.
{ cache, realFiles }:
let
  lib = import (cache + "/lib");
  inherit (lib) types;
  realModules = map (file: cache + "/${file}") realFiles;

  # Packages are never built here: a derivation-shaped stand-in is enough.
  drv = name: { type = "derivation"; inherit name; outPath = "/nix/store/00000000000000000000000000000000-${name}"; version = "0"; meta = { }; };
  pkgs = lib.genAttrs [ "murmur" "zerotierone" "cage" "xterm" "shadow" "util-linux" "envsubst" "coreutils" "mumble" "firefox" ] drv // {
    formats.json = _: { type = types.attrsOf types.anything // { description = "JSON value"; }; generate = name: _: drv name; };
    writeText = name: _: drv name;
    writeTextFile = args: drv args.name;
    writers.writeDash = name: _: drv name;
    apparmorRulesFromClosure = _: _: drv "apparmor-rules";
  };
  utils.pam.autoOrderRules = rules: rules;

  hibossLib = import ../lib { inherit lib; };
  generated = hibossLib.generateNixosModules (import ./wizard-configs.nix);

  evalConfig = module: lib.evalModules {
    modules = realModules ++ [
      ./stub-nixos.nix
      module
      {
        _module.args = { inherit pkgs utils; };
        # Values the real modules read from parts of NixOS that are stubbed.
        security.pam.package = drv "pam";
        systemd.package = drv "systemd";
        system.nixos = { distroName = "NixOS"; label = "25.05"; };
        documentation = { nixos.enable = false; doc.enable = false; };
        boot.isContainer = false;
        services.displayManager.enable = false;
        ids = { uids.murmur = 19; gids.murmur = 19; };
        environment.etc."os-release".source = drv "os-release";
        environment.etc."lsb-release".source = drv "lsb-release";
      }
    ];
  };

  # (Units only of the services whose real module is read; a stub makes none.)
  # What hiboss asks of each config: its option values evaluate (so unknown
  # options and type errors surface), no assertion fails, and every enabled
  # service is a systemd unit.
  unitsOf = config:
    let s = config.services; in
    lib.optional s.murmur.enable "murmur"
    ++ lib.optional s.zerotierone.enable "zerotierone"
    ++ lib.optional s.cage.enable "cage-tty1";
  # Every visible option's value under the prefixes (renamed and removed
  # options are invisible aliases that throw or warn by design).
  forceOptions = options:
    builtins.deepSeq (map (opt: opt.value)
      (builtins.filter (opt: opt.visible or true != false && !(opt.internal or false))
        (lib.concatMap (prefix: lib.collect lib.isOption (lib.attrByPath (lib.splitString "." prefix) { } options)) prefixes))) true;
  summary = name: module:
    let
      evaluated = evalConfig module;
      config = evaluated.config;
      forced = forceOptions evaluated.options;
      failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
      units = builtins.attrNames config.systemd.services;
      missingUnits = builtins.filter (unit: !(builtins.elem unit units)) (unitsOf config);
    in
    builtins.seq forced { inherit failed missingUnits; warnings = config.warnings; };

  # Facts for options.json: every option under the prefixes hiboss sets, from
  # lib's own documentation walk (names use <name> and * like the manual).
  prefixes = [
    "services.murmur" "services.zerotierone" "services.cage" "services.getty" "services.yggdrasil"
    "services.tinc" "services.syncthing" "services.forgejo" "services.nextcloud" "services.openssh"
    "services.nginx.defaultListenAddresses" "networking.hostName" "networking.firewall" "networking.interfaces"
    "networking.wireguard" "users.users" "security.sudo" "systemd.tmpfiles" "systemd.services"
    "environment.etc" "environment.systemPackages" "system.stateVersion" "virtualisation.vmVariant"
    "assertions" "warnings"
  ];
  relevant = name: builtins.any (prefix: name == prefix || lib.hasPrefix "${prefix}." name) prefixes;
  facts =
    let
      options = (evalConfig { }).options;
      docs = builtins.filter (doc: relevant doc.name) (lib.optionAttrSetToDocList options);
      render = value: let r = builtins.tryEval (builtins.deepSeq value value); in if r.success then r.value else null;
    in
    map (doc: {
      inherit (doc) name type;
      default = render (doc.default.text or null);
      declaredIn = map (file: let f = toString file; in
        if lib.hasSuffix "stub-nixos.nix" f then "stub"
        else lib.removePrefix "${toString cache}/" f) doc.declarations;
    }) docs;
in
{
  results = builtins.mapAttrs (name: module: let r = builtins.tryEval (summary name module); in if r.success then r.value else { error = true; }) generated;
  one = name: summary name generated.${name};
  inherit facts;
}
