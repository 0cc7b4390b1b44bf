# Inside a hiboss VM: mount the host directories the MEMBER shares with it.
#
# hiboss, on the member's machine, exports each directory the member lists in
# config.json (`shares`) over 9p and tells the guest what to mount in the
# fw_cfg entry opt/hiboss/shares: [{ "tag": "hiboss0", "path": "/mnt/x",
# "writable": false }] (daemon/launch/shares.ts writes it). The network's
# configuration does not choose them, and a read-only share is kept read-only
# by the host (QEMU's readonly=on), whatever the guest mounts. A VM the member
# shares nothing with mounts nothing.
{ pkgs, ... }:
{
  boot.kernelModules = (import ../nix/lib/guest-shares.nix).kernelModules;

  systemd.services.hiboss-shares = {
    description = "Mount the host directories the member shares with this VM";
    wantedBy = [ "multi-user.target" ];
    after = [ "systemd-modules-load.service" ];
    wants = [ "systemd-modules-load.service" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
    };
    path = [ pkgs.jq pkgs.util-linux pkgs.coreutils ];
    script = ''
      raw=/sys/firmware/qemu_fw_cfg/by_name/opt/hiboss/shares/raw
      [ -f "$raw" ] || exit 0
      # The same bounds as hiboss's schema: tags hiboss0-9, plain absolute paths, at most 8.
      jq -c '.[:8][] | select((.tag | test("^hiboss[0-9]$")) and (.path | test("^(/[A-Za-z0-9._-]+)+$")))' "$raw" |
        while read -r share; do
          tag=$(jq -r .tag <<<"$share")
          dir=$(jq -r .path <<<"$share")
          options=trans=virtio,version=9p2000.L,msize=262144,nosuid,nodev
          [ "$(jq -r .writable <<<"$share")" = true ] || options="$options,ro"
          mkdir -p "$dir"
          mount -t 9p -o "$options" "$tag" "$dir" || echo "hiboss-shares: cannot mount $tag at $dir" >&2
        done
    '';
  };
}
