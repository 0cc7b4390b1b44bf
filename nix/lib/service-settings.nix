# hiboss options -> the NixOS service settings that implement them.
#
# Builtins only: modules/hiboss.nix passes nixpkgs' mkIf/mkMerge/mkDefault,
# while CI calls it with the plain defaults below and inspects the resulting
# data offline (test/nix/shape-configs.test.ts). Anything needing `pkgs`
# stays in the module.
#
# Rule that keeps both modes working: the attribute *names* above option level
# never depend on the config (the module system needs them before it knows
# the config), so conditions are mkIf around attrsets or plain `if` on values.
let
  # configs.json-mode merge: attrsets merge, lists concatenate, equal values agree.
  mergeTwo = left: right:
    builtins.foldl'
      (acc: key:
        let r = right.${key}; in
        if !(acc ? ${key}) then acc // { ${key} = r; }
        else
          let l = acc.${key}; in
          if builtins.isAttrs l && builtins.isAttrs r then acc // { ${key} = mergeTwo l r; }
          else if builtins.isList l && builtins.isList r then acc // { ${key} = l ++ r; }
          else if l == r then acc
          else throw "service-settings.nix: conflicting values for ${key}")
      left
      (builtins.attrNames right);
in
{
  mkIf ? (condition: content: if condition then content else { }),
  mkMerge ? (fragments: builtins.foldl' mergeTwo { } fragments),
  mkDefault ? (value: value),
}:
# `members`: the network's members (members.nix networkOf; default: this
# config's own); `self`: the member whose VM this is (null: a VM of this config
# that is no member yet, e.g. one whose join request is not admitted).
{ name, hiboss, self ? null, members ? hiboss.members }:
let
  spec = import ./options-spec.nix;
  layer = hiboss.networkLayer;
  # A server application runs on the member that serves it, when one does
  # (`serves`); when none does, on every VM of the config, as without members.
  servedBySomeone = service: builtins.any (memberName: builtins.elem service members.${memberName}.serves) (builtins.attrNames members);
  runs = service: app: hiboss.applications.${app}.enable && (me == null || !(servedBySomeone service) || builtins.elem service me.serves);
  apps = hiboss.applications // {
    mumbleServer = hiboss.applications.mumbleServer // { enable = runs "mumble" "mumbleServer"; };
    gitServer = hiboss.applications.gitServer // { enable = runs "git" "gitServer"; };
    nextcloud = hiboss.applications.nextcloud // { enable = runs "cloud" "nextcloud"; };
  };
  interface = spec.interfaces.${layer};

  stripPrefix = cidr: builtins.head (builtins.split "/" cidr);
  prefixLength = cidr: builtins.fromJSON (builtins.elemAt (builtins.split "/" cidr) 2);
  isIPv6 = address: builtins.match ".*:.*" address != null;
  bracketed = address: if isIPv6 address then "[${address}]" else address;
  hostPrefix = address: if isIPv6 address then 128 else 32;
  filterAttrs = keep: set: builtins.listToAttrs (builtins.filter (entry: keep entry.name entry.value) (map (name: { inherit name; value = set.${name}; }) (builtins.attrNames set)));

  # --- the members, seen from this VM ------------------------------------
  me = if self == null then null else members.${self};
  # Everybody else: the peers, allowed keys, firewall sources and devices.
  others = builtins.removeAttrs members (if self == null then [ ] else [ self ]);
  othersWith = layerKey: filterAttrs (_: member: member.${layerKey} != null) others;
  otherList = layerKey: map (memberName: { name = memberName; } // others.${memberName}) (builtins.attrNames (othersWith layerKey));
  # A member's endpoint with the layer's port when it names none.
  endpointWith = defaultPort: member:
    let parsed = parseHostPort member.endpoint; in
    "${bracketed parsed.address}:${toString (if parsed.port == null then defaultPort else parsed.port)}";
  # Yggdrasil has no standard port: members listen (and are dialled) on this one unless their endpoint says otherwise.
  yggdrasilPort = 9001;
  myYggdrasilPort = if me == null || me.endpoint == null then yggdrasilPort else (let p = (parseHostPort me.endpoint).port; in if p == null then yggdrasilPort else p);
  yggdrasilListens = me != null && me.endpoint != null && othersWith "yggdrasil" != { };
  # The layer's own address of this VM, with the config's prefix.
  withConfigPrefix = configCidr: address: "${address}/${toString (if configCidr == null then hostPrefix address else prefixLength configCidr)}";
  myCidr = configCidr: if me == null then configCidr else withConfigPrefix configCidr me.address;

  # Yggdrasil routes for the whole mesh and ZeroTier's controller decides who
  # joins: on those the service ports open only to the members' addresses.
  sourceFiltered = layer == "yggdrasil" || layer == "zerotier";

  # The address services bind to: this node's address on the network layer
  # when the config states it; otherwise (yggdrasil, zerotier before the
  # address is known) every address, and the interface-scoped firewall is
  # what keeps the services off other networks (modules/hiboss.nix asserts
  # the firewall is on in that case).
  listenAddress = if me != null then me.address else {
    yggdrasil = hiboss.yggdrasil.address;
    zerotier = hiboss.zerotier.address;
    wireguard = if hiboss.wireguard.address == null then null else stripPrefix hiboss.wireguard.address;
    tinc = if hiboss.tinc.address == null then null else stripPrefix hiboss.tinc.address;
  }.${layer};

  remoteAdmin = hiboss.adminMode != "local";
  memberIsAdmin = hiboss.adminMode != "remote";

  ports = {
    ssh = 22;
    syncthing = 22000;
    mumble = 64738;
    forgejo = 3000;
    nextcloud = 80;
  };
  tcpPorts =
    (if remoteAdmin then [ ports.ssh ] else [ ])
    ++ (if apps.syncthing.enable then [ ports.syncthing ] else [ ])
    ++ (if apps.mumbleServer.enable then [ ports.mumble ] else [ ])
    ++ (if apps.gitServer.enable then [ ports.forgejo ] else [ ])
    ++ (if apps.nextcloud.enable then [ ports.nextcloud ] else [ ]);
  udpPorts =
    (if apps.syncthing.enable then [ ports.syncthing ] else [ ])
    ++ (if apps.mumbleServer.enable then [ ports.mumble ] else [ ]);

  # "host", "host:port", "[v6]", "[v6]:port" -> { address; port or null }
  parseHostPort = text:
    let
      parts =
        if builtins.substring 0 1 text == "["
        then builtins.match "\\[([^]]+)](:([0-9]+))?" text
        else builtins.match "([^:]+)(:([0-9]+))?" text;
      port = builtins.elemAt parts 2;
    in
    {
      address = builtins.elemAt parts 0;
      port = if port == null then null else builtins.fromJSON port;
    };

  # The other members' devices (dialled on their VPN address), then any listed by hand.
  syncthingDevices =
    builtins.listToAttrs (map (member: { inherit (member) name; value = { id = member.syncthing.deviceId; addresses = [ "tcp://${bracketed member.address}:${toString ports.syncthing}" ]; }; }) (otherList "syncthing"))
    // builtins.listToAttrs (map (device: { inherit (device) name; value = { inherit (device) id; }; }) apps.syncthing.devices);
  syncthingDeviceNames = builtins.attrNames syncthingDevices;
  folderId = path: "hiboss" + builtins.replaceStrings [ "/" ] [ "-" ] path;

  # tinc node names are [A-Za-z0-9_] only; config and peer names may also hold "-".
  tincName = builtins.replaceStrings [ "-" ] [ "_" ];
  tincHost = tincName (if self != null then self else if hiboss.tinc.hostName != null then hiboss.tinc.hostName else name);
  tincAddress = myCidr hiboss.tinc.address;
  # tinc wants a host's own subnet as a single address (/32, /128), not its network.
  hostSubnet = cidr: let address = stripPrefix cidr; in { inherit address; prefixLength = if isIPv6 address then 128 else 32; };

  # NixOS's hostName check: alphanumerics and "-", neither first nor last.
  # Config names may start or end with "-" or "_", so those are trimmed.
  # A member's VM is named after the member, any other after its config.
  hostName =
    let trimmed = builtins.elemAt (builtins.match "[_-]*(([A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)?)[_-]*" (if self == null then name else self)) 0; in
    if trimmed == "" then "hiboss" else builtins.replaceStrings [ "_" ] [ "-" ] trimmed;

  # What members type to reach this VM's web services: its VPN address when
  # known; else its host name (which then needs a DNS or /etc/hosts entry on
  # the members' side, see the warning in modules/hiboss.nix).
  reachableHost = if listenAddress == null then hostName else bracketed listenAddress;

  # --- names on the network: static /etc/hosts entries from the members ---
  # MEMBER.DOMAIN for every member, SERVICE.DOMAIN (and the seed's SERVICE.hiboss)
  # for the member serving it. A removed member's names go with it.
  domain = hiboss.domain;
  lower = builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" "_" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" "-" ];
  memberHostName = memberName: "${lower memberName}.${domain}";
  serviceHostNames = service: [ "${service}.${domain}" ] ++ (if domain == "hiboss" then [ ] else [ "${service}.hiboss" ]);
  namesOf = memberName: [ (memberHostName memberName) ] ++ builtins.concatMap serviceHostNames members.${memberName}.serves;
  hosts = builtins.foldl'
    (acc: memberName:
      let address = members.${memberName}.address; in
      acc // { ${address} = (acc.${address} or [ ]) ++ namesOf memberName; })
    { }
    (builtins.attrNames members);
  serves = service: me != null && builtins.elem service me.serves;
  # The names this VM's web services answer to.
  gitHost = if serves "git" then "git.${domain}" else reachableHost;
  cloudHost = if serves "cloud" then "cloud.${domain}" else reachableHost;

  # --- members-only service ports on yggdrasil and zerotier (nftables) ----
  sourceRules =
    let
      addresses = map (memberName: others.${memberName}.address) (builtins.attrNames others);
      v6 = builtins.filter isIPv6 addresses;
      v4 = builtins.filter (address: !isIPv6 address) addresses;
      commas = builtins.concatStringsSep ", ";
      line = family: sources: protocol: portList:
        if sources == [ ] || portList == [ ] then [ ]
        else [ "iifname \"${interface}\" ${family} saddr { ${commas sources} } ${protocol} dport { ${commas (map toString portList)} } accept" ];
    in
    builtins.concatStringsSep "\n" (line "ip6" v6 "tcp" tcpPorts ++ line "ip6" v6 "udp" udpPorts ++ line "ip" v4 "tcp" tcpPorts ++ line "ip" v4 "udp" udpPorts);

  desktop = hiboss.desktop.enable;
  servicesPage = builtins.concatStringsSep "\n" ([
    "<!doctype html><meta charset=utf-8><title>${name}: services</title>"
    "<h1>Services of ${name}</h1><ul>"
  ]
  ++ (if apps.nextcloud.enable then [ "<li>Nextcloud: <a href=\"http://${reachableHost}/\">http://${reachableHost}/</a>" ] else [ ])
  ++ (if apps.gitServer.enable then [ "<li>Git server (Forgejo): <a href=\"http://${reachableHost}:${toString ports.forgejo}/\">http://${reachableHost}:${toString ports.forgejo}/</a>" ] else [ ])
  ++ (if apps.syncthing.enable then [ "<li>Syncthing: <a href=\"http://127.0.0.1:8384/\">http://127.0.0.1:8384/</a> (this VM only)" ] else [ ])
  ++ (if apps.mumbleServer.enable then [ "<li>Mumble server: ${reachableHost}:${toString ports.mumble}" ] else [ ])
  ++ (if apps.mumbleClient.enable then [ "<li>Mumble client: connected to ${apps.mumbleClient.server}" ] else [ ])
  ++ [ "</ul><p>Network layer: ${layer}, interface ${interface}${if listenAddress == null then "" else ", address ${listenAddress}"}.</p>" ]);
  # The member's desktop (issue #23): sway with tabbed workspaces, so every app is
  # one tab away (cage showed one window: Mumble hid behind the browser). Its
  # apps start with it; when the last one exits, sway exits and systemd starts
  # the session again — never a dead console until reboot.
  sharedFolder = if apps.syncthing.enable && apps.syncthing.sharedFolders != [ ] then builtins.head apps.syncthing.sharedFolders else "/home/member";
  desktopApps =
    [ "firefox file:///etc/hiboss/services.html" ]
    ++ (if apps.mumbleClient.enable && apps.mumbleClient.server != null then [ "mumble 'mumble://${apps.mumbleClient.server}'" ] else [ ])
    ++ [ "pcmanfm '${sharedFolder}'" ];
  swayConfig = builtins.concatStringsSep "\n" ([
    "# hiboss: the network's desktop. Tabbed: the title bar lists every app; $mod+Left/Right (Alt) switches."
    "set $mod Mod1"
    "workspace_layout tabbed"
    "default_border normal"
    "bindsym $mod+Left focus left"
    "bindsym $mod+Right focus right"
    "bindsym $mod+Return exec foot"
  ]
  ++ map (app: "exec ${app}") desktopApps
  ++ [ "exec /etc/hiboss/desktop-watch" "" ]);
  # Ends the session once the last app window is gone, for systemd to start it afresh.
  desktopWatch = ''
    #!/bin/sh
    export PATH=/run/current-system/sw/bin:$PATH
    views() { swaymsg -r -t get_tree | grep -c '"pid": [0-9]'; }
    # The apps' first window, then every window event until none is left.
    until [ "$(views)" -gt 0 ]; do swaymsg -t subscribe '["window"]' >/dev/null || exit 0; done
    swaymsg -m -t subscribe '["window"]' | while read -r _; do
      [ "$(views)" -gt 0 ] || exec swaymsg exit
    done
  '';

  settings = mkMerge [
    # --- who may administer the VM ---------------------------------------
    {
      users.users.member = {
        isNormalUser = true;
        extraGroups = if memberIsAdmin then [ "wheel" ] else [ ];
      };
      # The member reaches the VM through its console; there is no password to type.
      services.getty.autologinUser = mkDefault "member";
      networking.hostName = mkDefault hostName;
      networking.firewall.enable = mkDefault true;
      system.stateVersion = mkDefault "25.05";
      security.sudo.wheelNeedsPassword = mkDefault false;
      users.users.root.openssh.authorizedKeys.keys = if remoteAdmin then hiboss.adminKeys else [ ];
      services.openssh = mkIf remoteAdmin {
        enable = true;
        openFirewall = mkDefault false;
        listenAddresses = if listenAddress == null then [ ] else [ { addr = bracketed listenAddress; port = ports.ssh; } ];
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "prohibit-password";
        };
      };
    }

    # --- the network layer ------------------------------------------------
    {
      services.yggdrasil = mkIf (layer == "yggdrasil") {
        enable = true;
        # Keeps the node's address (and so the other members' view of it) across restarts.
        persistentKeys = true;
        settings = {
          # The network's bootstrap peers, then every member the others can dial.
          Peers = hiboss.yggdrasil.peers
            ++ map (member: "tls://${endpointWith yggdrasilPort member}") (builtins.filter (member: member.endpoint != null) (otherList "yggdrasil"));
          # Listens only when it has members to accept: an empty AllowedPublicKeys would accept everybody.
          Listen = if yggdrasilListens then [ "tls://[::]:${toString myYggdrasilPort}" ] else [ ];
          # Incoming peerings from members only (outgoing ones to the bootstrap peers are not affected).
          AllowedPublicKeys = map (member: member.yggdrasil.publicKey) (otherList "yggdrasil");
          IfName = interface;
          # No discovery on whatever LAN the host is on: members peer explicitly.
          MulticastInterfaces = [ ];
        };
      };

      networking.wireguard.interfaces = mkIf (layer == "wireguard") {
        ${interface} = {
          ips = let cidr = myCidr hiboss.wireguard.address; in if cidr == null then [ ] else [ cidr ];
          listenPort = hiboss.wireguard.listenPort;
          privateKeyFile = hiboss.wireguard.privateKeyFile;
          generatePrivateKeyFile = true;
          peers = map
            (peer: {
              inherit (peer) publicKey allowedIPs;
              persistentKeepalive = 25;
            } // (if peer.endpoint == null then { } else { inherit (peer) endpoint; }))
            hiboss.wireguard.peers
          # Every other member: its address alone routed to it, dialled where it can be.
          ++ map
            (member: {
              inherit (member) name;
              publicKey = member.wireguard.publicKey;
              allowedIPs = [ "${member.address}/${toString (hostPrefix member.address)}" ];
              # Keeps a NAT's mapping open, for members behind one.
              persistentKeepalive = 25;
            } // (if member.endpoint == null then { } else { endpoint = endpointWith hiboss.wireguard.listenPort member; }))
            (otherList "wireguard");
        };
      };

      services.zerotierone = mkIf (layer == "zerotier") {
        enable = true;
        joinNetworks = if hiboss.zerotier.networkId == null then [ ] else [ hiboss.zerotier.networkId ];
      };
      # ZeroTier names interfaces after a hash; its devicemap pins the name the firewall rules use.
      systemd.services.zerotierone = mkIf (layer == "zerotier" && hiboss.zerotier.networkId != null) {
        preStart = ''
          mkdir -p /var/lib/zerotier-one
          echo '${hiboss.zerotier.networkId}=${interface}' > /var/lib/zerotier-one/devicemap
        '';
      };

      services.tinc.networks = mkIf (layer == "tinc") {
        hiboss = {
          name = tincHost;
          interfaceType = "tun";
          hostSettings = builtins.listToAttrs (map
            (peer: {
              name = tincName peer.name;
              value = {
                addresses = map
                  (address: let parsed = parseHostPort address; in
                    { inherit (parsed) address; } // (if parsed.port == null then { } else { inherit (parsed) port; }))
                  peer.addresses;
                subnets = [ (hostSubnet peer.subnet) ];
                settings.Ed25519PublicKey = peer.ed25519PublicKey;
              };
            })
            hiboss.tinc.peers)
          # A host file per other member: its key, its address, where to dial it.
          // builtins.listToAttrs (map
            (member: {
              name = tincName member.name;
              value = {
                addresses = if member.endpoint == null then [ ] else [ (let parsed = parseHostPort member.endpoint; in
                  { inherit (parsed) address; } // (if parsed.port == null then { } else { inherit (parsed) port; })) ];
                subnets = [ { inherit (member) address; prefixLength = hostPrefix member.address; } ];
              } // (if member.tinc.rsaPublicKey == null then { } else { inherit (member.tinc) rsaPublicKey; })
                // (if member.tinc.ed25519PublicKey == null then { } else { settings.Ed25519PublicKey = member.tinc.ed25519PublicKey; });
            })
            (otherList "tinc"))
          // {
            ${tincHost}.subnets =
              if tincAddress == null then [ ]
              else [ (hostSubnet tincAddress) ];
          };
          # tinc 1.0 dials only the hosts named here (1.1 would find them itself).
          settings = let connectTo = map (member: tincName member.name) (builtins.filter (member: member.endpoint != null) (otherList "tinc")); in
            if connectTo == [ ] then { } else { ConnectTo = connectTo; };
        };
      };
      networking.interfaces = mkIf (layer == "tinc" && tincAddress != null) {
        ${interface} =
          let
            family = if isIPv6 tincAddress then "ipv6" else "ipv4";
          in
          {
            ${family}.addresses = [ {
              address = stripPrefix tincAddress;
              prefixLength = prefixLength tincAddress;
            } ];
          };
      };
      # tinc's own (underlay) port; the services stay behind the interface rules below.
      networking.firewall.allowedTCPPorts =
        if layer == "tinc" then [ 655 ]
        else if layer == "yggdrasil" && yggdrasilListens then [ myYggdrasilPort ]
        else [ ];
      networking.firewall.allowedUDPPorts =
        if layer == "tinc" then [ 655 ]
        else if layer == "wireguard" then [ hiboss.wireguard.listenPort ]
        else [ ];
    }

    # --- applications, reachable only through the network layer ----------
    {
      # On wireguard and tinc only members are on the interface: the ports open there.
      networking.firewall.interfaces.${interface} = {
        allowedTCPPorts = if sourceFiltered then [ ] else tcpPorts;
        allowedUDPPorts = if sourceFiltered then [ ] else udpPorts;
      };
      # On yggdrasil and zerotier others are too: the ports open to the members' addresses alone
      # (rules of the nftables-based firewall; NixOS's iptables one has no such option).
      networking.nftables = mkIf sourceFiltered { enable = true; };
      networking.firewall.extraInputRules = mkIf (sourceFiltered && sourceRules != "") sourceRules;
      # Every member's and service's name, on every member.
      networking.hosts = hosts;

      services.syncthing = mkIf apps.syncthing.enable {
        enable = true;
        openDefaultPorts = mkDefault false;
        # Runs as the member, so the shared folders are the member's to read and write.
        user = "member";
        group = "users";
        dataDir = "/home/member";
        # The VM's own desktop reaches the GUI; nothing else does.
        guiAddress = "127.0.0.1:8384";
        # The devices are the members: one removed from configs.json is removed from Syncthing too.
        # Folders added in the GUI survive restarts.
        overrideDevices = true;
        overrideFolders = false;
        settings = {
          options = {
            listenAddresses =
              let host = if listenAddress == null then "" else bracketed listenAddress; in
              [ "tcp://${host}:${toString ports.syncthing}" "quic://${host}:${toString ports.syncthing}" ];
            # Private network: no public discovery, relays or NAT traversal.
            globalAnnounceEnabled = false;
            localAnnounceEnabled = false;
            relaysEnabled = false;
            natEnabled = false;
            urAccepted = -1;
          };
          folders = builtins.listToAttrs (map
            (path: {
              name = path;
              value = { inherit path; id = folderId path; devices = syncthingDeviceNames; };
            })
            apps.syncthing.sharedFolders);
          devices = syncthingDevices;
        };
      };
      systemd.tmpfiles.rules =
        if apps.syncthing.enable then map (path: "d ${path} 0770 member users -") apps.syncthing.sharedFolders else [ ];

      # --- the member's desktop, shown in the VM's QEMU window ------------
      # sway on tty1 as the member (a logind session, so the member's own systemd
      # and PipeWire run), restarted whenever it ends: its last app exited, or it died.
      systemd.services.hiboss-desktop = mkIf desktop {
        description = "hiboss: the network's desktop (sway, tabbed), started again when its last app exits";
        wantedBy = [ "multi-user.target" ];
        after = [ "systemd-user-sessions.service" "getty@tty1.service" ];
        conflicts = [ "getty@tty1.service" ];
        # Restarts without end: a session that keeps ending is still the member's only screen.
        unitConfig.StartLimitIntervalSec = 0;
        environment = { XDG_SESSION_TYPE = "wayland"; WLR_RENDERER = "pixman"; WLR_NO_HARDWARE_CURSORS = "1"; };
        serviceConfig = {
          ExecStart = "/run/current-system/sw/bin/sway --config /etc/hiboss/sway.conf";
          User = "member";
          PAMName = "login";
          TTYPath = "/dev/tty1";
          TTYReset = "yes";
          TTYVHangup = "yes";
          TTYVTDisallocate = "yes";
          StandardInput = "tty-fail";
          StandardOutput = "journal";
          StandardError = "journal";
          UtmpIdentifier = "tty1";
          UtmpMode = "user";
          Restart = "always";
          RestartSec = 1;
        };
      };
      environment.etc."hiboss/sway.conf" = mkIf desktop { text = swayConfig; };
      environment.etc."hiboss/desktop-watch" = mkIf desktop { text = desktopWatch; mode = "0755"; };
      environment.etc."hiboss/services.html" = mkIf desktop { text = servicesPage; };
      # Sound (issue #23): PipeWire with its PulseAudio server, which Mumble and Firefox use;
      # hiboss gives the VM an HDA device played through the member's own sound server.
      services.pipewire = mkIf desktop {
        enable = true;
        pulse.enable = true;
        alsa.enable = true;
      };
      security.rtkit = mkIf desktop { enable = true; };
      # Only the VM build (system.build.vm) has these options; off: no window at all.
      virtualisation.vmVariant.virtualisation.graphics = desktop;

      services.murmur = mkIf apps.mumbleServer.enable {
        enable = true;
        openFirewall = mkDefault false;
        # murmur's "host=" setting; "" binds every address (the firewall then scopes it).
        hostName = if listenAddress == null then "" else listenAddress;
        port = ports.mumble;
        registerName = name;
      };

      services.forgejo = mkIf apps.gitServer.enable {
        enable = true;
        database.type = "sqlite3";
        settings = {
          server = {
            # "::" is dual-stack; yggdrasil is IPv6-only, so 0.0.0.0 would miss it.
            HTTP_ADDR = if listenAddress == null then "::" else listenAddress;
            HTTP_PORT = ports.forgejo;
            DOMAIN = gitHost;
            ROOT_URL = "http://${gitHost}:${toString ports.forgejo}/";
            # Git over HTTP only: no second SSH server to secure.
            DISABLE_SSH = true;
          };
          # Accounts are for members: nobody signs up; the network's admin makes them (modules/hiboss.nix).
          service.DISABLE_REGISTRATION = true;
          session.COOKIE_SECURE = false;
        };
      };

      # The nextcloud module trusts hostName itself (settings.trusted_domains), and
      # requires dbtype and adminpassFile: neither has a default.
      services.nextcloud = mkIf apps.nextcloud.enable ({
        enable = true;
        hostName = cloudHost;
        config = {
          dbtype = "sqlite";
          adminpassFile = apps.nextcloud.adminPasswordFile;
        };
      } // (if me == null then { } else {
        # Beside hostName: the member's own name and its address on the network.
        settings.trusted_domains = [ (memberHostName self) ] ++ builtins.concatMap serviceHostNames me.serves ++ [ (bracketed me.address) ];
      }));
      services.nginx.defaultListenAddresses = mkIf (apps.nextcloud.enable && listenAddress != null) [ (bracketed listenAddress) ];
    }
  ];

in
{
  inherit settings interface listenAddress tcpPorts udpPorts ports hostName reachableHost hosts sourceRules;
}
