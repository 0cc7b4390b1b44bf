# Development-time stand-in for the parts of NixOS whose module files are not
# in .cache/nixpkgs (see check-real.mjs). Two kinds of declaration:
#   - typed: options hiboss sets in modules that were not read, declared with
#     the types those modules have in nixpkgs (recorded as `stub` in
#     options.json, so they are told apart from facts read from real files);
#   - freeform: whatever the real modules set elsewhere in NixOS.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  any = types.attrsOf types.anything;
  # A group of options hiboss does not set: anything goes.
  free = mkOption { type = types.submodule { freeformType = any; }; default = { }; };
  opt = type: default: mkOption { inherit type default; };
  req = type: mkOption { inherit type; };
  sub = options: types.submodule { inherit options; };
  freeSub = options: types.submodule { inherit options; freeformType = any; };
  ports = opt (types.listOf types.port) [ ];
  addressList = opt (types.listOf (sub { address = req types.str; prefixLength = req types.int; })) [ ];
in
{
  options = {
    assertions = opt (types.listOf types.unspecified) [ ];
    warnings = opt (types.listOf types.str) [ ];
    meta = free;
    ids = free;
    boot = free;
    documentation = free;
    hardware = free;
    nixpkgs = free;
    programs = free;
    security = mkOption {
      default = { };
      type = freeSub {
        sudo.wheelNeedsPassword = opt types.bool true;
      };
    };
    system = mkOption {
      default = { };
      type = freeSub { stateVersion = opt types.str "25.05"; };
    };
    environment = {
      systemPackages = opt (types.listOf types.anything) [ ];
      etc = opt (types.attrsOf (freeSub {
        text = opt (types.nullOr types.lines) null;
        mode = opt types.str "symlink";
      })) { };
    };
    systemd = mkOption {
      default = { };
      type = freeSub {
        services = opt (types.attrsOf (types.submodule { freeformType = any; })) { };
        tmpfiles.rules = opt (types.listOf types.str) [ ];
      };
    };
    users = {
      groups = opt (types.attrsOf (types.submodule { freeformType = any; })) { };
      users = opt (types.attrsOf (freeSub {
        isNormalUser = opt types.bool false;
        extraGroups = opt (types.listOf types.str) [ ];
        openssh.authorizedKeys.keys = opt (types.listOf types.singleLineStr) [ ];
      })) { };
    };
    networking = {
      hostName = opt (types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$") "nixos";
      enableIPv6 = opt types.bool true;
      dhcpcd = free;
      firewall = {
        enable = opt types.bool true;
        allowedTCPPorts = ports;
        allowedUDPPorts = ports;
        interfaces = opt (types.attrsOf (sub { allowedTCPPorts = ports; allowedUDPPorts = ports; })) { };
      };
      interfaces = opt (types.attrsOf (sub { ipv4.addresses = addressList; ipv6.addresses = addressList; })) { };
      wireguard.interfaces = opt (types.attrsOf (sub {
        ips = opt (types.listOf types.str) [ ];
        listenPort = opt (types.nullOr types.int) null;
        privateKeyFile = opt (types.nullOr types.str) null;
        generatePrivateKeyFile = opt types.bool false;
        peers = opt (types.listOf (sub {
          publicKey = req types.singleLineStr;
          allowedIPs = opt (types.listOf types.str) [ ];
          endpoint = opt (types.nullOr types.str) null;
          persistentKeepalive = opt (types.nullOr types.int) null;
        })) [ ];
      })) { };
    };
    virtualisation.vmVariant = mkOption {
      default = { };
      type = freeSub { virtualisation.graphics = opt types.bool true; };
    };
    services = {
      dbus = free;
      displayManager = free;
      yggdrasil = {
        enable = opt types.bool false;
        persistentKeys = opt types.bool false;
        settings = opt (types.attrsOf types.anything) { };
      };
      tinc.networks = opt (types.attrsOf (freeSub {
        name = opt (types.nullOr types.str) null;
        interfaceType = opt (types.enum [ "tun" "tap" ]) "tun";
        hostSettings = opt (types.attrsOf (sub {
          addresses = opt (types.listOf (sub { address = req types.str; port = opt (types.nullOr types.port) null; })) [ ];
          subnets = opt (types.listOf (sub {
            address = req types.str;
            prefixLength = opt (types.nullOr (types.ints.between 0 128)) null;
            weight = opt types.ints.unsigned 10;
          })) [ ];
          settings = opt (types.submodule { freeformType = any; }) { };
        })) { };
      })) { };
      openssh = {
        enable = opt types.bool false;
        openFirewall = opt types.bool true;
        listenAddresses = opt (types.listOf (sub { addr = opt (types.nullOr types.str) null; port = opt (types.nullOr types.port) null; })) [ ];
        settings = opt (freeSub {
          PasswordAuthentication = opt (types.nullOr types.bool) true;
          KbdInteractiveAuthentication = opt (types.nullOr types.bool) true;
          PermitRootLogin = opt (types.enum [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ]) "prohibit-password";
        }) { };
      };
      syncthing = {
        enable = opt types.bool false;
        openDefaultPorts = opt types.bool false;
        user = opt types.str "syncthing";
        group = opt types.str "syncthing";
        dataDir = opt types.path "/var/lib/syncthing";
        guiAddress = opt types.str "127.0.0.1:8384";
        overrideDevices = opt types.bool true;
        overrideFolders = opt types.bool true;
        settings = opt (freeSub {
          options = opt (types.submodule { freeformType = any; }) { };
          devices = opt (types.attrsOf (freeSub { id = req types.str; })) { };
          folders = opt (types.attrsOf (freeSub {
            path = req types.str;
            id = req types.str;
            devices = opt (types.listOf types.str) [ ];
          })) { };
        }) { };
      };
      forgejo = {
        enable = opt types.bool false;
        database.type = opt (types.enum [ "sqlite3" "mysql" "postgres" ]) "sqlite3";
        settings = opt (freeSub {
          server = opt (freeSub {
            HTTP_ADDR = opt types.str "0.0.0.0";
            HTTP_PORT = opt types.port 3000;
            DOMAIN = opt types.str "localhost";
            ROOT_URL = opt types.str "http://localhost:3000/";
            DISABLE_SSH = opt types.bool false;
          }) { };
          session = opt (freeSub { COOKIE_SECURE = opt types.bool false; }) { };
        }) { };
      };
      nextcloud = {
        enable = opt types.bool false;
        hostName = opt types.str "";
        config = {
          dbtype = opt (types.enum [ "sqlite" "pgsql" "mysql" ]) "sqlite";
          adminpassFile = opt (types.nullOr types.str) null;
        };
        settings = opt (freeSub { trusted_domains = opt (types.listOf types.str) [ ]; }) { };
      };
      nginx.defaultListenAddresses = opt (types.listOf types.str) [ "0.0.0.0" ];
    };
  };
}
