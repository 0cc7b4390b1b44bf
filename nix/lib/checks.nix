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
