# Every configs.json shape the wizard can produce, as one configs.json value:
# each network layer x each application (none, one, all) x each admin mode x
# the layer's address absent / IPv4 / IPv6 (where the layer allows it).
# Builtins only: the CI test and the development-time check share it.
let
  key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGs0bWVrZXlmb3J0ZXN0aW5nb25seTEyMzQ1Njc4 admin@acme";
  deviceId = "MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAD";

  # layer -> { variant = the layer's block; }
  layers = {
    yggdrasil = {
      none = { peers = [ "tls://peer.acme.example:443" ]; };
      v6 = { address = "200:1234::2"; };
    };
    zerotier = {
      none = { networkId = "a8a2c3c10c1a68de"; };
      v4 = { networkId = "a8a2c3c10c1a68de"; address = "10.147.17.2"; };
      v6 = { networkId = "a8a2c3c10c1a68de"; address = "fd00:7a::2"; };
    };
    wireguard = {
      v4 = { address = "10.77.0.2/24"; peers = [ { publicKey = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxA="; allowedIPs = [ "10.77.0.1/32" ]; endpoint = "vpn.acme.example:51820"; } ]; };
      v6 = { address = "fd00:77::2/64"; peers = [ { publicKey = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyE="; allowedIPs = [ "fd00:77::1/128" ]; } ]; };
    };
    tinc = {
      v4 = { address = "10.78.0.2/24"; peers = [ { name = "hub-1"; ed25519PublicKey = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"; subnet = "10.78.0.1/24"; addresses = [ "hub.example:655" "[2001:db8::1]" ]; } ]; };
      v6 = { address = "fd00:78::2/64"; peers = [ { name = "hub_2"; ed25519PublicKey = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"; subnet = "fd00:78::1/64"; } ]; };
    };
  };

  applications = {
    none = { };
    sync = { syncthing = { enable = true; sharedFolders = [ "/shared/docs" ]; devices = [ { name = "bob"; id = deviceId; } ]; }; };
    mcli = { mumbleClient = { enable = true; server = "10.77.0.1:64738"; }; };
    msrv = { mumbleServer.enable = true; };
    git = { gitServer.enable = true; };
    cloud = { nextcloud.enable = true; };
    all = {
      syncthing = { enable = true; sharedFolders = [ "/shared/docs" "/shared/photos" ]; };
      mumbleClient = { enable = true; server = "[fd00::1]:64738"; };
      mumbleServer.enable = true;
      gitServer.enable = true;
      nextcloud.enable = true;
    };
  };

  adminModes = [ "local" "remote" "shared" ];

  short = { yggdrasil = "ygg"; zerotier = "zt"; wireguard = "wg"; tinc = "tinc"; };

  entry = layer: variant: app: mode: {
    name = "${short.${layer}}_${app}-${mode}-${variant}";
    value = {
      networkLayer = layer;
      ${layer} = layers.${layer}.${variant};
      adminMode = mode;
      adminKeys = if mode == "local" then [ ] else [ key ];
      applications = applications.${app};
      # Headless too: the wizard leaves desktop on, a hand-written configs.json may not.
      desktop.enable = app != "none";
    };
  };

  combinations = builtins.concatMap
    (layer: builtins.concatMap
      (variant: builtins.concatMap
        (app: map (mode: entry layer variant app mode) adminModes)
        (builtins.attrNames applications))
      (builtins.attrNames layers.${layer}))
    (builtins.attrNames layers);
in
builtins.listToAttrs combinations // {
  # Config names NixOS would reject as host names and tinc as node names.
  "-edge_" = { networkLayer = "tinc"; tinc = layers.tinc.v4; applications = applications.all; };
  "_" = { system = "aarch64-linux"; applications = applications.git; };
}
