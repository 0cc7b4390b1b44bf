# Every wizard-producible config (wizard-configs.nix) with `count` members, each
# config its own network: member i has every layer's and app's identity, an
# address of the config's layer and family, member 1 an endpoint and every
# service its config runs, member 2 an IPv6-literal endpoint. With 3 members
# the network's domain is "acme" (names MEMBER.acme, SERVICE.acme and SERVICE.hiboss).
# Builtins only: CI evaluates it with check.nix.
{ count }:
let
  wizard = import ./wizard-configs.nix;
  pad = text: length: builtins.substring 0 length (text + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  hex = text: length: builtins.substring 0 length (text + "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  rsa = i: "-----BEGIN RSA PUBLIC KEY-----\n${pad "MIIBCgKCAQEAmember${toString i}" 64}\n${pad "AAAB" 40}==\n-----END RSA PUBLIC KEY-----\n";

  addressOf = entry: i:
    let
      layer = entry.networkLayer or "yggdrasil";
      block = entry.${layer} or { };
      v6 = builtins.match ".*:.*" (block.address or "") != null;
    in
    if layer == "yggdrasil" then "201:1234::${toString (10 + i)}"
    else if v6 then "fd00:9${toString (builtins.stringLength layer)}::${toString (10 + i)}"
    else "10.9${toString (builtins.stringLength layer)}.0.${toString (10 + i)}";

  servicesOf = entry:
    let apps = entry.applications or { }; on = app: (apps.${app} or { }).enable or false; in
    (if on "mumbleServer" then [ "mumble" ] else [ ])
    ++ (if on "gitServer" then [ "git" ] else [ ])
    ++ (if on "nextcloud" then [ "cloud" ] else [ ]);

  member = entry: i: {
    name = "m${toString i}";
    value = {
      address = addressOf entry i;
      admin = i == 1;
      endpoint = if i == 1 then "m1.example:4000" else if i == 2 then "[2001:db8::2]:655" else null;
      wireguard.publicKey = "${pad "wgmember${toString i}" 42}A=";
      yggdrasil.publicKey = hex "${toString i}" 64;
      tinc = { rsaPublicKey = rsa i; ed25519PublicKey = pad "tincmember${toString i}" 43; };
      zerotier.nodeId = hex "${toString i}" 10;
      syncthing.deviceId = "MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWA${builtins.elemAt [ "A" "B" "C" "D" ] i}";
      serves = if i == 1 then servicesOf entry else [ ];
    };
  };
in
builtins.mapAttrs
  (_: entry: entry // {
    members = builtins.listToAttrs (builtins.genList (i: member entry (i + 1)) count);
  } // (if count == 3 then { domain = "acme"; } else { }))
  wizard
