# The kernel modules a hiboss VM loads to mount the member's shares: fw_cfg to
# read what to mount, 9p over virtio to mount it. One list, set by
# modules/guest-shares.nix and checked against the real declaration by
# nix/upstream/check.nix.
{
  kernelModules = [ "qemu_fw_cfg" "9p" "9pnet_virtio" ];
}
