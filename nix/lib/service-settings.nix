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
  inherit (import ./addresses.nix) stripPrefix prefixLength isIPv6 bracketed parseHostPort;
  layer = hiboss.networkLayer;
  # The members, seen from this VM (member-view.nix).
  view = import ./member-view.nix { inherit hiboss self members; };
  inherit (view) me sourceFiltered;
  apps = hiboss.applications // {
    mumbleServer = hiboss.applications.mumbleServer // { enable = view.runs "mumble" "mumbleServer"; };
    gitServer = hiboss.applications.gitServer // { enable = view.runs "git" "gitServer"; };
    nextcloud = hiboss.applications.nextcloud // { enable = view.runs "cloud" "nextcloud"; };
  };
  interface = spec.interfaces.${layer};

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

  # The other members' devices (dialled on their VPN address), then any listed by hand.
  syncthingDevices =
    view.syncthingDevices ports.syncthing
    // builtins.listToAttrs (map (device: { inherit (device) name; value = { inherit (device) id; }; }) apps.syncthing.devices);
  syncthingDeviceNames = builtins.attrNames syncthingDevices;
  folderId = path: "hiboss" + builtins.replaceStrings [ "/" ] [ "-" ] path;

  # tinc node names are [A-Za-z0-9_] only; config and peer names may also hold "-".
  tincName = builtins.replaceStrings [ "-" ] [ "_" ];
  tincHost = tincName (if self != null then self else if hiboss.tinc.hostName != null then hiboss.tinc.hostName else name);
  tincAddress = view.cidr hiboss.tinc.address;
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

  # The names this VM's web services answer to.
  gitHost = if view.serves "git" then "git.${hiboss.domain}" else reachableHost;
  cloudHost = if view.serves "cloud" then "cloud.${hiboss.domain}" else reachableHost;

  sourceRules = view.sourceRules { inherit interface tcpPorts udpPorts; };
  hosts = view.hosts;

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
  # The member's desktop: sway with tabbed workspaces, so every app is
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
          Peers = hiboss.yggdrasil.peers ++ view.yggdrasilPeers;
          # Listens only when it has members to accept: an empty AllowedPublicKeys would accept everybody.
          Listen = if view.yggdrasilListens then [ "tls://[::]:${toString view.myYggdrasilPort}" ] else [ ];
          # Incoming peerings from members only (outgoing ones to the bootstrap peers are not affected).
          AllowedPublicKeys = view.allowedPublicKeys;
          IfName = interface;
          # No discovery on whatever LAN the host is on: members peer explicitly.
          MulticastInterfaces = [ ];
        };
      };

      networking.wireguard.interfaces = mkIf (layer == "wireguard") {
        ${interface} = {
          ips = let cidr = view.cidr hiboss.wireguard.address; in if cidr == null then [ ] else [ cidr ];
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
          ++ view.wireguardPeers hiboss.wireguard.listenPort;
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
          // view.tincHosts tincName
          // {
            ${tincHost}.subnets =
              if tincAddress == null then [ ]
              else [ (hostSubnet tincAddress) ];
          };
          # tinc 1.0 dials only the hosts named here (1.1 would find them itself).
          settings = let connectTo = view.tincConnectTo tincName; in
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
        else if layer == "yggdrasil" && view.yggdrasilListens then [ view.myYggdrasilPort ]
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
            # A member's VM is paused whenever its workspace is hidden, so peers come and go all day:
            # redial one that is not connected every 10 s (Syncthing's default is a minute), so a
            # resumed member, or one whose VPN came up after Syncthing, syncs within seconds.
            reconnectionIntervalS = 10;
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
      # Sound: PipeWire with its PulseAudio server, which Mumble and Firefox use;
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
        settings.trusted_domains = [ (view.memberHostName self) ] ++ builtins.concatMap view.serviceHostNames me.serves ++ [ (bracketed me.address) ];
      }));
      services.nginx.defaultListenAddresses = mkIf (apps.nextcloud.enable && listenAddress != null) [ (bracketed listenAddress) ];
    }
  ];

in
{
  inherit settings interface listenAddress tcpPorts udpPorts ports hostName reachableHost hosts sourceRules;
}
