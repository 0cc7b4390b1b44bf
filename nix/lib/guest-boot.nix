# The boot contract of a network VM: how its NixOS boots from exactly what
# hiboss's QEMU gives it (daemon/launch/flake-argv.ts) — direct kernel boot of
# the build's kernel and initrd with init=TOPLEVEL/init, the closure image
# (squashfs, read-only) and the member's own disk (qcow2), both virtio-blk,
# found by their serials (guest-devices.json), and the serial console hiboss
# logs. Plain data, builtins only, so CI checks it without nixpkgs
# (nix/upstream/check.nix) and the busybox test guest mounts what it says
# (test/nix/guest-boot.test.ts); modules/guest-boot.nix applies it.
#
# { devices ? guest-devices.json } -> { devices; settings; }
{ devices ? builtins.fromJSON (builtins.readFile ./guest-devices.json) }:
let
  # What udev's 60-persistent-storage.rules makes of a virtio disk's serial.
  byId = serial: "/dev/disk/by-id/virtio-${serial}";
in
{
  inherit devices;
  settings = {
    fileSystems = {
      # The member's disk: ext4, made on the first boot (an empty qcow2 has no
      # file system; systemd's makefs in the initrd formats it, never a disk
      # that has one). Everything the VM keeps lives here.
      "/" = {
        device = byId devices.diskSerial;
        fsType = "ext4";
        autoFormat = true;
      };
      # The closure, read-only. No overlay: hiboss updates a VM by building a
      # new image on the host and booting it (nix/vm-image.nix), never by
      # nixos-rebuild inside, so nothing needs to write the store; a guest
      # cannot add to or change what it runs.
      "/nix/store" = {
        device = byId devices.storeSerial;
        fsType = "squashfs";
        options = [ "ro" ];
        neededForBoot = true;
      };
    };
    boot = {
      # Direct kernel boot: QEMU loads the kernel and initrd; nothing is installed on the disk.
      loader.grub.enable = false;
      initrd = {
        # The systemd initrd honours fileSystems."/".autoFormat (NixOS's
        # scripted stage 1 does not) and finds the system by init=.
        systemd.enable = true;
        # The disks and the uplink are virtio-pci devices; the store is
        # squashfs, the root ext4. Loaded in the initrd, not on demand, so the
        # by-id links exist before the mounts wait for them.
        availableKernelModules = [ "virtio_pci" "virtio_blk" "virtio_net" "squashfs" "ext4" ];
        kernelModules = [ "virtio_pci" "virtio_blk" "squashfs" "ext4" ];
      };
      # The last console is /dev/console: the serial port hiboss logs
      # (console.log in the VM's run dir); tty0 is the window.
      kernelParams = [ "console=tty0" "console=ttyS0,115200n8" ];
    };
  };
}
