# The one description of what a network's configs.json may say. Plain data
# (builtins only) so that three readers share it:
#   - modules/hiboss.nix turns it into the `hiboss.*` NixOS options,
#   - nix/lib/shape-configs.nix validates configs.json and fills defaults,
#   - test/nix/spec-vs-schema.test.ts checks networks/configs-schema.ts (the
#     zod schema behind the wizard) offers exactly these options.
#
# Node kinds: bool, str (pattern = whole-string POSIX ERE, maxLength), port,
# enum (values), listOf (elem, maxItems), attrsOf (elem, keyPattern, maxItems),
# nullOr (elem), submodule (options).
let
  # The network's services a member can serve, each named SERVICE.DOMAIN on the network.
  memberServices = [ "mumble" "git" "cloud" ];
  # Kept to regexes that mean the same in POSIX ERE (Nix) and JavaScript.
  patterns = {
    name = "[A-Za-z0-9_-]{1,32}";
    absolutePath = "/[A-Za-z0-9._/@+-]*";
    # host or host:port; an IPv6 literal in brackets.
    hostPort = "([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+])(:[0-9]{1,5})?";
    cidr = "[0-9A-Fa-f:.]+/[0-9]{1,3}";
    ipAddress = "[0-9A-Fa-f:.]+";
    peerUri = "(tcp|tls|quic|ws|wss)://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+]):[0-9]{1,5}(\\?[A-Za-z0-9=&._-]*)?";
    sshPublicKey = "(ssh-ed25519|sk-ssh-ed25519@openssh.com|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/]+={0,3}( [ -~]{0,200})?";
    wireguardKey = "[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=";
    ed25519TincKey = "[A-Za-z0-9+/]{43}";
    zerotierNetworkId = "[0-9a-f]{16}";
    # Eight groups of seven base32 characters, as Syncthing shows it.
    syncthingDeviceId = "[A-Z2-7]{7}(-[A-Z2-7]{7}){7}";
    # A yggdrasil node's ed25519 public key, hex (what `yggdrasil -publickey` prints).
    yggdrasilKey = "[0-9a-f]{64}";
    # A ZeroTier node's address (`zerotier-cli info`).
    zerotierNodeId = "[0-9a-f]{10}";
    # tinc 1.0's RSA public key file (PKCS#1 PEM, what `tincd -K` writes).
    tincRsaKey = "-----BEGIN RSA PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{40,1400}-----END RSA PUBLIC KEY-----\n?";
    # A DNS label of the network's names (MEMBER.DOMAIN, SERVICE.DOMAIN).
    domain = "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?";
  };

  bool = default: description: { type = "bool"; inherit default description; };
  enable = what: bool false "Whether to run ${what} in this network VM.";
in
{
  inherit patterns memberServices;

  # Values of the configs.json `system` key (nixpkgs.hostPlatform).
  systems = [ "x86_64-linux" "aarch64-linux" ];
  defaultSystem = "x86_64-linux";

  # Each network layer's interface inside the VM: services bind and the
  # firewall opens ports only there.
  interfaces = {
    yggdrasil = "ygg0";
    wireguard = "wg-hiboss";
    zerotier = "zthiboss";
    tinc = "tinc.hiboss";
  };

  options = {
    adminMode = {
      type = "enum";
      values = [ "local" "remote" "shared" ];
      default = "local";
      description = ''
        Who administers the VM: `local` (the member on this machine; no remote
        login), `remote` (the network's admins over SSH on the network layer;
        the member has no root), `shared` (both).'';
    };

    adminKeys = {
      type = "listOf";
      maxItems = 32;
      elem = { type = "str"; pattern = patterns.sshPublicKey; maxLength = 1024; };
      default = [ ];
      description = "SSH public keys of the network's admins (adminMode remote or shared).";
    };

    networkLayer = {
      type = "enum";
      values = [ "yggdrasil" "wireguard" "zerotier" "tinc" ];
      default = "yggdrasil";
      description = "The VPN that forms the private network.";
    };

    yggdrasil = {
      type = "submodule";
      description = "Yggdrasil settings (networkLayer = yggdrasil).";
      options = {
        peers = {
          type = "listOf";
          maxItems = 64;
          elem = { type = "str"; pattern = patterns.peerUri; maxLength = 256; };
          default = [ ];
          description = "Peer URIs, e.g. tls://peer.example:443.";
        };
        address = {
          type = "nullOr";
          elem = { type = "str"; pattern = patterns.ipAddress; maxLength = 64; };
          default = null;
          description = "This node's 200::/7 address, once known; services then bind to it alone.";
        };
      };
    };

    wireguard = {
      type = "submodule";
      description = "WireGuard settings (networkLayer = wireguard).";
      options = {
        address = {
          type = "nullOr";
          elem = { type = "str"; pattern = patterns.cidr; maxLength = 64; };
          default = null;
          description = "This node's address with prefix, e.g. 10.77.0.2/24.";
        };
        listenPort = { type = "port"; default = 51820; description = "UDP port WireGuard listens on."; };
        privateKeyFile = {
          type = "str";
          pattern = patterns.absolutePath;
          maxLength = 256;
          default = "/var/lib/hiboss/wireguard.key";
          description = "Private key inside the VM (generated on first boot if missing); never in the Nix store.";
        };
        peers = {
          type = "listOf";
          maxItems = 256;
          default = [ ];
          description = "The other members' WireGuard peers.";
          elem = {
            type = "submodule";
            options = {
              publicKey = { type = "str"; pattern = patterns.wireguardKey; maxLength = 44; description = "The peer's public key."; };
              allowedIPs = {
                type = "listOf";
                maxItems = 64;
                elem = { type = "str"; pattern = patterns.cidr; maxLength = 64; };
                default = [ ];
                description = "Addresses routed to this peer.";
              };
              endpoint = {
                type = "nullOr";
                elem = { type = "str"; pattern = patterns.hostPort; maxLength = 256; };
                default = null;
                description = "host:port where the peer is reachable, if it is.";
              };
            };
          };
        };
      };
    };

    zerotier = {
      type = "submodule";
      description = "ZeroTier settings (networkLayer = zerotier).";
      options = {
        networkId = {
          type = "nullOr";
          elem = { type = "str"; pattern = patterns.zerotierNetworkId; maxLength = 16; };
          default = null;
          description = "The 16-hex-digit network to join.";
        };
        address = {
          type = "nullOr";
          elem = { type = "str"; pattern = patterns.ipAddress; maxLength = 64; };
          default = null;
          description = "The address the network's controller assigns this node, once known.";
        };
      };
    };

    tinc = {
      type = "submodule";
      description = "tinc settings (networkLayer = tinc).";
      options = {
        hostName = {
          type = "nullOr";
          elem = { type = "str"; pattern = patterns.name; maxLength = 32; };
          default = null;
          description = "This node's tinc name (default: the config's name).";
        };
        address = {
          type = "nullOr";
          elem = { type = "str"; pattern = patterns.cidr; maxLength = 64; };
          default = null;
          description = "This node's address with prefix, e.g. 10.78.0.2/24.";
        };
        peers = {
          type = "listOf";
          maxItems = 256;
          default = [ ];
          description = "The other members' tinc hosts.";
          elem = {
            type = "submodule";
            options = {
              name = { type = "str"; pattern = patterns.name; maxLength = 32; description = "The peer's tinc name."; };
              ed25519PublicKey = { type = "str"; pattern = patterns.ed25519TincKey; maxLength = 43; description = "The peer's Ed25519 public key."; };
              subnet = { type = "str"; pattern = patterns.cidr; maxLength = 64; description = "The peer's address with prefix."; };
              addresses = {
                type = "listOf";
                maxItems = 16;
                elem = { type = "str"; pattern = patterns.hostPort; maxLength = 256; };
                default = [ ];
                description = "Where the peer is reachable (host or host:port), if it is.";
              };
            };
          };
        };
      };
    };

    domain = {
      type = "str";
      pattern = patterns.domain;
      maxLength = 32;
      default = "hiboss";
      description = ''
        The network's name in host names: every member is MEMBER.DOMAIN, every
        service SERVICE.DOMAIN (the member serving it); SERVICE.hiboss resolves too.'';
    };

    members = {
      type = "attrsOf";
      keyPattern = patterns.name;
      maxItems = 256;
      default = { };
      description = ''
        The network's members that run this config: member name -> what the other
        members need to know of it. Every config of configs.json on the same network
        layer forms one network (the union of their members).'';
      elem = {
        type = "submodule";
        options = {
          address = { type = "str"; pattern = patterns.ipAddress; maxLength = 64; description = "The member's address on the network layer (yggdrasil: its 200::/7 address)."; };
          admin = bool false "Whether the member administers the network (and its Forgejo).";
          endpoint = {
            type = "nullOr";
            elem = { type = "str"; pattern = patterns.hostPort; maxLength = 256; };
            default = null;
            description = "host:port where the others can dial the member's VPN, if they can.";
          };
          wireguard = {
            type = "nullOr";
            default = null;
            description = "The member's WireGuard identity.";
            elem = { type = "submodule"; options.publicKey = { type = "str"; pattern = patterns.wireguardKey; maxLength = 44; description = "Its public key."; }; };
          };
          yggdrasil = {
            type = "nullOr";
            default = null;
            description = "The member's yggdrasil identity.";
            elem = { type = "submodule"; options.publicKey = { type = "str"; pattern = patterns.yggdrasilKey; maxLength = 64; description = "Its public key (hex)."; }; };
          };
          tinc = {
            type = "nullOr";
            default = null;
            description = "The member's tinc identity: tinc 1.0's RSA key, tinc 1.1's Ed25519 key, or both.";
            elem = {
              type = "submodule";
              options = {
                rsaPublicKey = {
                  type = "nullOr";
                  elem = { type = "str"; pattern = patterns.tincRsaKey; maxLength = 1500; };
                  default = null;
                  description = "Its RSA public key (PEM).";
                };
                ed25519PublicKey = {
                  type = "nullOr";
                  elem = { type = "str"; pattern = patterns.ed25519TincKey; maxLength = 43; };
                  default = null;
                  description = "Its Ed25519 public key.";
                };
              };
            };
          };
          zerotier = {
            type = "nullOr";
            default = null;
            description = "The member's ZeroTier node.";
            elem = { type = "submodule"; options.nodeId = { type = "str"; pattern = patterns.zerotierNodeId; maxLength = 10; description = "Its node id."; }; };
          };
          syncthing = {
            type = "nullOr";
            default = null;
            description = "The member's Syncthing device.";
            elem = { type = "submodule"; options.deviceId = { type = "str"; pattern = patterns.syncthingDeviceId; maxLength = 63; description = "Its device ID."; }; };
          };
          serves = {
            type = "listOf";
            maxItems = 3;
            elem = { type = "enum"; values = memberServices; };
            default = [ ];
            description = "The network's services this member serves (each named SERVICE.DOMAIN).";
          };
        };
      };
    };

    desktop = {
      type = "submodule";
      description = "The graphical session shown in the VM's window.";
      options.enable = bool true "Whether the VM boots into a desktop for the member (off: headless).";
    };

    applications = {
      type = "submodule";
      description = "The network's services.";
      options = {
        syncthing = {
          type = "submodule";
          description = "Syncthing, syncing folders with the other members.";
          options = {
            enable = enable "Syncthing";
            sharedFolders = {
              type = "listOf";
              maxItems = 64;
              elem = { type = "str"; pattern = patterns.absolutePath; maxLength = 256; };
              default = [ ];
              description = "Absolute paths in the VM shared with the network.";
            };
            devices = {
              type = "listOf";
              maxItems = 256;
              default = [ ];
              description = "The other members' Syncthing devices; every shared folder is shared with all of them.";
              elem = {
                type = "submodule";
                options = {
                  name = { type = "str"; pattern = patterns.name; maxLength = 32; description = "The member's name for the device."; };
                  id = { type = "str"; pattern = patterns.syncthingDeviceId; maxLength = 63; description = "The device ID (Actions > Show ID in its GUI)."; };
                };
              };
            };
          };
        };
        mumbleClient = {
          type = "submodule";
          description = "The Mumble client, connecting to the network's server.";
          options = {
            enable = enable "the Mumble client";
            server = {
              type = "nullOr";
              elem = { type = "str"; pattern = patterns.hostPort; maxLength = 256; };
              default = null;
              description = "host[:port] of the Mumble server on the network.";
            };
          };
        };
        mumbleServer = {
          type = "submodule";
          description = "A Mumble server (murmur) for the network.";
          options.enable = enable "a Mumble server";
        };
        gitServer = {
          type = "submodule";
          description = "A git server (Forgejo) for the network.";
          options.enable = enable "a Forgejo git server";
        };
        nextcloud = {
          type = "submodule";
          description = "A Nextcloud for the network.";
          options = {
            enable = enable "Nextcloud";
            adminPasswordFile = {
              type = "str";
              pattern = patterns.absolutePath;
              maxLength = 256;
              default = "/var/lib/hiboss/nextcloud-admin-pass";
              description = "File in the VM holding the initial admin password (generated on first boot if missing).";
            };
          };
        };
      };
    };
  };
}
