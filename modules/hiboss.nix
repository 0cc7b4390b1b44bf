# The high-level `hiboss.*` options of a network VM and the NixOS services
# behind them. The options are generated from nix/lib/options-spec.nix (the
# same data the wizard's zod schema is checked against), the service settings
# come from nix/lib/service-settings.nix and the cross-option rules from
# nix/lib/checks.nix, so configs.json, the wizard and this module cannot drift.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  spec = import ../nix/lib/options-spec.nix;
  cfg = config.hiboss;

  withMaxLength = node: type:
    if node ? maxLength
    then types.addCheck type (value: builtins.stringLength value <= node.maxLength) // { description = "${type.description} of at most ${toString node.maxLength} characters"; }
    else type;

  typeOf = node: {
    bool = types.bool;
    port = types.port;
    str = withMaxLength node (if node ? pattern then types.strMatching "^(${node.pattern})$" else types.str);
    enum = types.enum (node.values or [ ]);
    nullOr = types.nullOr (typeOf (node.elem or { type = "str"; }));
    listOf =
      let list = types.listOf (typeOf (node.elem or { type = "str"; })); in
      if node ? maxItems
      then types.addCheck list (value: builtins.length value <= node.maxItems) // { description = "${list.description} (at most ${toString node.maxItems})"; }
      else list;
    attrsOf =
      let
        key = types.strMatching "^(${node.keyPattern or ".*"})$";
        set = types.attrsOf (typeOf (node.elem or { type = "str"; }));
      in
      types.addCheck set (value: builtins.all key.check (builtins.attrNames value) && (!(node ? maxItems) || builtins.length (builtins.attrNames value) <= node.maxItems))
      // { description = "${set.description} (names matching ${node.keyPattern or ".*"})"; };
    submodule = types.submodule { options = builtins.mapAttrs (_: optionOf) (node.options or { }); };
  }.${node.type};

  optionOf = node: mkOption ({
    type = typeOf node;
    description = node.description or "";
  } // (
    if node ? default then { inherit (node) default; }
    else if node.type == "submodule" then { default = { }; }
    else { }
  ));

  derived = import ../nix/lib/service-settings.nix
    { inherit (lib) mkIf mkMerge mkDefault; }
    { inherit (cfg) name self; hiboss = cfg; members = cfg.networkMembers; };

  problems = import ../nix/lib/checks.nix { hiboss = cfg; };

  # --- the VM's public identity (networks/join-request.ts GuestIdentity) ---
  identityFile = "/var/lib/hiboss/identity.json";
  layer = cfg.networkLayer;
  wireguardUnit = "wireguard-${derived.interface}-key.service";
  identityAfter =
    lib.optional (layer == "wireguard") wireguardUnit
    ++ lib.optional (layer == "yggdrasil") "yggdrasil.service"
    ++ lib.optional (layer == "tinc") "tinc.hiboss.service"
    ++ lib.optional (layer == "zerotier") "zerotierone.service"
    ++ lib.optional cfg.applications.syncthing.enable "syncthing-init.service";
  tincHostFile = "/etc/tinc/hiboss/hosts/${config.services.tinc.networks.hiboss.name or derived.hostName}";
  identityScript = import ../nix/lib/identity-script.nix {
    inherit layer;
    name = derived.hostName;
    syncthing = cfg.applications.syncthing.enable;
    tools = {
      jq = lib.getExe pkgs.jq;
      wg = "${pkgs.wireguard-tools}/bin/wg";
      yggdrasil = "${config.services.yggdrasil.package}/bin/yggdrasil";
      openssl = lib.getExe pkgs.openssl;
      syncthing = "${config.services.syncthing.package}/bin/syncthing";
    };
    files = {
      out = identityFile;
      wireguardKey = cfg.wireguard.privateKeyFile;
      # What yggdrasil.service runs with (its keys included).
      yggdrasilConf = "/run/yggdrasil/yggdrasil.conf";
      tincRsaKey = "/etc/tinc/hiboss/rsa_key.priv";
      tincHost = tincHostFile;
      zerotierIdentity = "/var/lib/zerotier-one/identity.public";
      syncthingHome = config.services.syncthing.configDir;
    };
  };
  forgejoAdmins = builtins.filter (name: cfg.networkMembers.${name}.admin or false) (builtins.attrNames cfg.networkMembers);

  firewall = config.networking.firewall;
  openedGlobally =
    lib.unique (builtins.filter (port: builtins.elem port (firewall.allowedTCPPorts ++ firewall.allowedUDPPorts))
      (derived.tcpPorts ++ derived.udpPorts));
in
{
  options.hiboss = builtins.mapAttrs (_: optionOf) spec.options // {
    enable = lib.mkEnableOption "this machine as a hiboss network VM";
    name = mkOption {
      type = types.strMatching "^(${spec.patterns.name})$";
      internal = true;
      description = "The config's name in configs.json (set by lib.generateNixosModules).";
    };
    self = mkOption {
      type = types.nullOr (types.strMatching "^(${spec.patterns.name})$");
      default = null;
      internal = true;
      description = "The member whose VM this is (lib.generateNixosModules sets it for nixosConfigurations.MEMBER); null: not a member (yet).";
    };
    networkMembers = mkOption {
      type = types.attrsOf types.attrs;
      default = cfg.members;
      defaultText = lib.literalExpression "config.hiboss.members";
      internal = true;
      description = "Every member of the network (the members of each config on this network layer), set by lib.generateNixosModules.";
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    derived.settings

    {
      # hiboss judges a new generation healthy when its guest agent answers `guest-ping`
      # on the virtio-serial port the daemon adds; without it every update
      # would be rolled back at its deadline.
      services.qemuGuest.enable = lib.mkDefault true;
    }

    {
      # hiboss gives its VMs a virtio-balloon with free-page reporting: with the
      # driver loaded the guest hands the pages it frees back to the host, and can be shrunk
      # to its working set before a long pause.
      boot.kernelModules = [ "virtio_balloon" ];
    }

    {
      assertions =
        map (problem: { assertion = false; message = "hiboss.${problem.path}: ${problem.message}"; }) problems
        ++ [
          {
            assertion = firewall.enable || derived.listenAddress != null || derived.tcpPorts ++ derived.udpPorts == [ ];
            message = "hiboss: networking.firewall.enable is false and the services listen on every address "
              + "(${cfg.networkLayer} address unknown), so they would be reachable from outside the network. "
              + "Enable the firewall or set hiboss.${cfg.networkLayer}.address.";
          }
          {
            assertion = openedGlobally == [ ];
            message = "hiboss: port(s) ${toString openedGlobally} are open in networking.firewall.allowed*Ports, "
              + "i.e. on every interface; hiboss opens them on ${derived.interface} only.";
          }
          {
            assertion = !(config.services.syncthing.openDefaultPorts or false) && !(config.services.murmur.openFirewall or false);
            message = "hiboss: services.syncthing.openDefaultPorts / services.murmur.openFirewall open ports on every interface; leave them off.";
          }
        ];

      warnings =
        lib.optional (!firewall.enable && derived.listenAddress != null)
          "hiboss: the firewall is off; the services are bound to ${derived.listenAddress} only, but nothing else filters traffic."
        ++ lib.optional (cfg.adminMode == "local" && config.services.openssh.enable)
          "hiboss: adminMode is local but services.openssh is enabled (by another module); remote logins are possible."
        ++ lib.optional (cfg.applications.syncthing.enable && cfg.applications.syncthing.sharedFolders == [ ])
          "hiboss: syncthing is enabled without sharedFolders; nothing is shared until folders are added."
        ++ lib.optional ((cfg.applications.nextcloud.enable || cfg.applications.gitServer.enable) && derived.listenAddress == null)
          "hiboss: the ${cfg.networkLayer} address is not set, so Nextcloud/Forgejo answer to the name ${derived.reachableHost}, which members must resolve themselves; set hiboss.${cfg.networkLayer}.address.";
    }

    # Members: the VM publishes its public identity — never a private key —
    # for `hiboss network identity`, which the daemon reads through the guest agent.
    {
      systemd.services.hiboss-identity = {
        description = "Publish this VM's public identity (${identityFile}) for its join request";
        wantedBy = [ "multi-user.target" ];
        after = identityAfter;
        wants = identityAfter;
        serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
        path = [ pkgs.coreutils pkgs.gnused ];
        script = identityScript;
      };
    }

    # Forgejo's accounts are the network's: registration is closed (service-settings.nix),
    # the network's admins get admin accounts, each password in a root-only file.
    (lib.mkIf (config.services.forgejo.enable && forgejoAdmins != [ ]) {
      systemd.services.hiboss-forgejo-admins = {
        description = "Create the network admins' Forgejo accounts";
        after = [ "forgejo.service" ];
        requires = [ "forgejo.service" ];
        wantedBy = [ "multi-user.target" ];
        serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
        path = [ pkgs.coreutils pkgs.gnugrep pkgs.util-linux ];
        script = lib.concatMapStrings
          (admin: let forgejo = "runuser -u ${config.services.forgejo.user} -- ${lib.getExe config.services.forgejo.package} --work-path ${config.services.forgejo.stateDir} --config ${config.services.forgejo.customDir}/conf/app.ini"; in ''
            if ! ${forgejo} admin user list --admin | grep -qw ${lib.escapeShellArg admin}; then
              umask 077
              mkdir -p /var/lib/hiboss
              head -c 18 /dev/urandom | base64 > /var/lib/hiboss/forgejo-${admin}.password
              ${forgejo} admin user create --admin --username ${lib.escapeShellArg admin} \
                --email ${lib.escapeShellArg "${admin}@${cfg.domain}"} --must-change-password \
                --password "$(cat /var/lib/hiboss/forgejo-${admin}.password)"
            fi
          '')
          forgejoAdmins;
      };
    })

    (lib.mkIf cfg.applications.mumbleClient.enable {
      environment.systemPackages = [ pkgs.mumble ];
    })

    (lib.mkIf cfg.desktop.enable {
      # The desktop's compositor and apps (nix/lib/service-settings.nix starts them), and the
      # guest side of `hiboss clip` (issue #23): the host's daemon runs
      # `hiboss-clipboard paste|copy` through the guest agent (as root), which reads or sets
      # the member's Wayland clipboard. Nothing else crosses: QEMU gets no clipboard channel.
      environment.systemPackages = [
        pkgs.firefox
        pkgs.sway
        pkgs.foot
        pkgs.pcmanfm
        pkgs.wl-clipboard
        (pkgs.writeShellScriptBin "hiboss-clipboard" ''
          set -eu
          uid=$(${pkgs.coreutils}/bin/id -u member)
          gid=$(${pkgs.coreutils}/bin/id -g member)
          export XDG_RUNTIME_DIR=/run/user/$uid
          for socket in "$XDG_RUNTIME_DIR"/wayland-*; do
            case "$socket" in *.lock) ;; *) export WAYLAND_DISPLAY=''${socket##*/}; break ;; esac
          done
          as_member() { ${pkgs.util-linux}/bin/setpriv --reuid="$uid" --regid="$gid" --init-groups "$@"; }
          case "''${1:-}" in
            # wl-copy stays behind to serve the clipboard: its output is not the agent's to wait for.
            copy) as_member ${pkgs.wl-clipboard}/bin/wl-copy --type 'text/plain;charset=utf-8' >/dev/null 2>&1 ;;
            paste) as_member ${pkgs.wl-clipboard}/bin/wl-paste --no-newline --type 'text/plain;charset=utf-8' ;;
            *) echo "usage: hiboss-clipboard copy|paste" >&2; exit 2 ;;
          esac
        '')
      ];
    })

    (lib.mkIf cfg.applications.nextcloud.enable {
      # services.nextcloud.package is left to the nextcloud module, which picks
      # the major that matches system.stateVersion.
      # The admin password is made in the VM on first boot, so no secret enters the Nix store.
      systemd.services.hiboss-nextcloud-password = {
        description = "Create the initial Nextcloud admin password";
        wantedBy = [ "nextcloud-setup.service" ];
        before = [ "nextcloud-setup.service" ];
        serviceConfig.Type = "oneshot";
        script = ''
          file=${lib.escapeShellArg cfg.applications.nextcloud.adminPasswordFile}
          if [ ! -s "$file" ]; then
            umask 077
            mkdir -p "$(dirname "$file")"
            head -c 18 /dev/urandom | base64 > "$file"
          fi
          chown nextcloud "$file"
        '';
      };
    })
  ]);
}
