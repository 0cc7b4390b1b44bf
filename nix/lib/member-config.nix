# The NixOS option values a network's config sets on one member's VM.
#
# THE INTERFACE (netlab's adapter and the tests rely on it; keep it):
#
#   nix-instantiate --eval --strict --json -E '
#     import ./nix/lib/member-config.nix {
#       configs = builtins.fromJSON (builtins.readFile CONFIGS_JSON);
#       self = "alice";          # a member listed in some config's `members`
#       # config = "default";    # optional: the config to use (default: the one listing self)
#     }'
#
# returns a nested attribute set of real NixOS option paths and the values the
# network's module sets there for that member: only what is set (options a
# disabled branch would leave alone are absent, not {}), no NixOS defaults.
# Among them:
#   networking.wireguard.interfaces.wg-hiboss.{ips,listenPort,privateKeyFile,generatePrivateKeyFile,peers}
#     peers = [ { name; publicKey; allowedIPs; endpoint?; persistentKeepalive; } ]
#   services.yggdrasil.settings.{Peers,Listen,AllowedPublicKeys,MulticastInterfaces,IfName}
#   services.tinc.networks.hiboss.{name,hostSettings.<member>.{addresses,subnets,rsaPublicKey?,settings.Ed25519PublicKey?},settings.ConnectTo}
#   services.syncthing.settings.{devices.<member>.{id,addresses},folders.<path>.{path,id,devices},options}
#   networking.firewall.interfaces.<vpn-if>.{allowedTCPPorts,allowedUDPPorts}
#   networking.nftables.enable + networking.firewall.extraInputRules   (yggdrasil, zerotier: members-only sources)
#   networking.hosts = { ADDRESS = [ "alice.DOMAIN" "mumble.DOMAIN" "mumble.hiboss" ]; }
#   services.forgejo.settings.service.DISABLE_REGISTRATION, services.nextcloud.settings.trusted_domains
# It is the same function modules/hiboss.nix applies (service-settings.nix via
# lib.generateNixosModules), evaluated here with builtins only.
{ configs, self, config ? null }:
let
  shaped = import ./shape-configs.nix configs;
  members = import ./members.nix;
  name = if config == null then members.configOf shaped self else config;
  entry = shaped.${name} or (throw "hiboss: no config ${name} in configs.json");

  # A false mkIf leaves a marker, removed below: what is not set is absent.
  unset = { __hibossUnset = true; };
  isUnset = value: value == unset;
  prune = value:
    if builtins.isAttrs value then
      builtins.listToAttrs (builtins.concatMap
        (key:
          let v = value.${key}; pruned = prune v; in
          # Gone: a false mkIf, or a group of options that held nothing else.
          if isUnset v || (builtins.isAttrs v && v != { } && pruned == { }) then [ ] else [ { name = key; value = pruned; } ])
        (builtins.filter (key: key != "__hibossUnset") (builtins.attrNames value)))
    else if builtins.isList value then map prune value
    else value;

  derived = import ./service-settings.nix { mkIf = condition: content: if condition then content else unset; }
    {
      inherit name self;
      inherit (entry) hiboss;
      members = members.networkOf shaped name;
    };
in
if !(entry.hiboss.members ? ${self}) && !(builtins.elem self (builtins.attrNames (members.networkOf shaped name)))
then throw "hiboss: ${self} is not a member of ${name}'s network"
else prune derived.settings
