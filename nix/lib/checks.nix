# Rules across options that types alone cannot state. Builtins only; used by
# shape-configs.nix (configs.json), by modules/hiboss.nix (as assertions) and
# mirrored, message for message, by networks/configs-schema.ts (test/nix
# compares them on the fixtures).
#
# { hiboss } -> [ { path; message; } ], one per violated rule, `path` relative to `hiboss`.
{ hiboss }:
let
  inStore = path: builtins.substring 0 11 path == "/nix/store/";
  layer = hiboss.networkLayer;
  apps = hiboss.applications;
  rule = ok: path: message: if ok then [ ] else [ { inherit path message; } ];
  duplicates = list:
    builtins.filter (x: builtins.length (builtins.filter (y: y == x) list) > 1) list;
  # Each member carries the identity its network layer needs, and serves only what runs.
  serviceApps = { mumble = "mumbleServer"; git = "gitServer"; cloud = "nextcloud"; };
  memberRules = name:
    let
      member = hiboss.members.${name};
      at = "members.${name}";
    in
    rule (layer != "wireguard" || member.wireguard != null) "${at}.wireguard" "required when networkLayer is wireguard"
    ++ rule (layer != "yggdrasil" || member.yggdrasil != null) "${at}.yggdrasil" "required when networkLayer is yggdrasil"
    ++ rule (layer != "tinc" || (member.tinc != null && (member.tinc.rsaPublicKey != null || member.tinc.ed25519PublicKey != null)))
      "${at}.tinc" "rsaPublicKey or ed25519PublicKey required when networkLayer is tinc"
    ++ rule (layer != "yggdrasil" || builtins.match "0?[23][0-9a-fA-F]{2}:.*" member.address != null) "${at}.address"
      "a yggdrasil address is in 200::/7"
    ++ builtins.concatMap
      (service: rule apps.${serviceApps.${service}}.enable "${at}.serves" "serves ${service}, but applications.${serviceApps.${service}} is not enabled")
      member.serves
    ++ rule (duplicates member.serves == [ ]) "${at}.serves" "lists a service twice";
in
rule (hiboss.adminMode == "local" || hiboss.adminKeys != [ ]) "adminKeys"
  "adminMode ${hiboss.adminMode} needs at least one admin SSH key"
++ rule (layer != "wireguard" || hiboss.wireguard.address != null) "wireguard.address"
  "required when networkLayer is wireguard"
++ rule (layer != "tinc" || hiboss.tinc.address != null) "tinc.address"
  "required when networkLayer is tinc"
++ rule (layer != "zerotier" || hiboss.zerotier.networkId != null) "zerotier.networkId"
  "required when networkLayer is zerotier"
++ rule (!inStore hiboss.wireguard.privateKeyFile) "wireguard.privateKeyFile"
  "must not be in the Nix store (it is world-readable)"
++ rule (!inStore apps.nextcloud.adminPasswordFile) "applications.nextcloud.adminPasswordFile"
  "must not be in the Nix store (it is world-readable)"
++ rule (!apps.mumbleClient.enable || apps.mumbleClient.server != null) "applications.mumbleClient.server"
  "required when the Mumble client is enabled"
++ rule (builtins.all (folder: !inStore folder && folder != "/") apps.syncthing.sharedFolders)
  "applications.syncthing.sharedFolders" "a shared folder cannot be / or in the Nix store"
++ rule (duplicates apps.syncthing.sharedFolders == [ ]) "applications.syncthing.sharedFolders"
  "lists a folder twice"
++ builtins.concatMap memberRules (builtins.attrNames hiboss.members)
