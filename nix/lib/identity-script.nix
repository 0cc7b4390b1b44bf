# The script of hiboss-identity.service (modules/hiboss.nix): it writes the VM's
# public identity (networks/join-request.ts GuestIdentity) to `files.out`,
# atomically. Builtins only, so CI runs the very script with Debian's real wg,
# yggdrasil, openssl and jq (test/networks/identity-script.test.ts); the module
# passes the NixOS packages and paths.
#
# Each step adds one program's public key with jq; a key that cannot be read
# fails the unit, naming the program. No private key is ever written out.
{ layer, name, syncthing ? false, tools, files }:
let
  quote = text: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] text + "'";
  step = condition: text: if condition then text else "";
in
''
  set -eu
  add() { identity=$(printf '%s' "$identity" | ${tools.jq} -c "$@"); }
  identity=$(${tools.jq} -nc --arg name ${quote name} '{v: 1, name: $name}')
''
+ step (layer == "wireguard") ''
  add --arg k "$(${tools.wg} pubkey < ${quote files.wireguardKey})" '. + {wireguard: {publicKey: $k}}'
''
+ step (layer == "yggdrasil") ''
  # yggdrasil 0.5 prints its public key; 0.4's config holds it.
  key=$(${tools.yggdrasil} -useconffile ${quote files.yggdrasilConf} -publickey 2>/dev/null \
    || ${tools.jq} -r .PublicKey ${quote files.yggdrasilConf})
  add --arg k "$key" --arg a "$(${tools.yggdrasil} -useconffile ${quote files.yggdrasilConf} -address)" \
    '. + {yggdrasil: {publicKey: $k, address: $a}}'
''
+ step (layer == "tinc") ''
  # The RSA key from tinc's private key (its host file is rewritten on activation);
  # tinc 1.1's Ed25519 key from the host file it appended it to at first start.
  rsa=$(${tools.openssl} rsa -in ${quote files.tincRsaKey} -RSAPublicKey_out 2>/dev/null \
    || sed -n '/-----BEGIN RSA PUBLIC KEY-----/,/-----END RSA PUBLIC KEY-----/p' ${quote files.tincHost} 2>/dev/null || true)
  ed=$(sed -n 's/^Ed25519PublicKey *= *//p' ${quote files.tincHost} 2>/dev/null | head -n 1)
  [ -n "$rsa$ed" ] || { echo "hiboss-identity: no tinc key in ${files.tincRsaKey} or ${files.tincHost}" >&2; exit 1; }
  [ -z "$ed" ] || add --arg k "$ed" '.tinc.ed25519PublicKey = $k'
  [ -z "$rsa" ] || add --arg k "$rsa" '.tinc.rsaPublicKey = ($k + "\n")'
''
+ step (layer == "zerotier") ''
  add --arg k "$(cut -d: -f1 ${quote files.zerotierIdentity})" '. + {zerotier: {nodeId: $k}}'
''
+ step syncthing ''
  add --arg k "$(${tools.syncthing} --home=${quote files.syncthingHome} --device-id)" '. + {syncthing: {deviceId: $k}}'
''
+ ''
  umask 022
  mkdir -p "$(dirname ${quote files.out})"
  printf '%s\n' "$identity" > ${quote files.out}.tmp
  mv ${quote files.out}.tmp ${quote files.out}
''
