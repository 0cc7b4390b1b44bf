/**
 * The whole QEMU argv of a flake VM, built by hiboss: nothing in it
 * comes from the network's build but data — the kernel, initrd and closure
 * image as files QEMU loads into the guest, the kernel command line, and the
 * bounded sizes of vm-manifest.ts. The binary is the member's (the VM's
 * `qemuBinary` setting, else qemu-system-x86_64 on the daemon's PATH); devices
 * are hiboss's choice alone.
 *
 * Extend it here (one place): each group of devices is a function of its own,
 * appended in flakeQemuArgv.
 */
import path from 'node:path';
import type { VmConfig } from '../../config/schema.js';
import { balloonArgs } from './balloon.js';
import { ramFileArgs } from './ram-file.js';
import { controlArgs, type VmPaths } from './launcher.js';
import type { VmBuild } from './vm-manifest.js';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';
export const DEFAULT_MEMORY_MIB = 1024;
export const DEFAULT_CORES = 1;
export const DEFAULT_DISK_MIB = 1024;

/**
 * The serial number the guest finds its closure image by (/dev/disk/by-id/virtio-hiboss-store).
 * The guest's side names both serials in nix/lib/guest-devices.json (test/nix/guest-boot.test.ts: they agree).
 */
export const STORE_SERIAL = 'hiboss-store';
/** … and the member's disk (/dev/disk/by-id/virtio-hiboss-disk). */
export const DISK_SERIAL = 'hiboss-disk';

/** The member's disk: qcow2 in the VM's state dir (created by the launcher, sized from the manifest). */
export function diskImage(paths: VmPaths): string {
  return path.join(paths.stateDir, 'disk.qcow2');
}

/**
 * The guest's serial console, in the run dir (the session's runtime dir, a
 * size-limited tmpfs): QEMU truncates it at each start.
 */
export function consoleLog(paths: VmPaths): string {
  return path.join(paths.runDir, 'console.log');
}

/** The guest agent's socket (virtio-serial port org.qemu.guest_agent.0), beside the QMP socket. */
export function agentSocket(paths: VmPaths): string {
  return path.join(paths.runDir, 'qga.sock');
}

/** QEMU's -drive/-netdev/-chardev values are comma-separated: a comma in a path is doubled. */
export function qemuValue(text: string): string {
  return text.replaceAll(',', ',,');
}

/**
 * The guest agent's channel (health after an update: `guest-ping`) and a
 * pvpanic device (a guest panic becomes QMP GUEST_PANICKED).
 */
export function healthArgs(paths: VmPaths): string[] {
  return [
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=qga0,path=${qemuValue(agentSocket(paths))},server=on,wait=off`,
    '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    '-device', 'pvpanic-pci',
  ];
}

/** Machine, memory, CPUs: the network's sizes (bounded by the manifest's schema), else hiboss's defaults. */
export function machineArgs(build: VmBuild): string[] {
  return [
    '-M', 'q35',
    '-m', String(build.manifest.memoryMiB ?? DEFAULT_MEMORY_MIB),
    '-smp', String(build.manifest.cores ?? DEFAULT_CORES),
    // No default devices, no host-wide QEMU config: every device is listed below.
    '-nodefaults', '-no-user-config',
  ];
}

/** Direct kernel boot from the build's files; the closure image read-only; the member's disk. */
export function bootArgs(build: VmBuild, paths: VmPaths): string[] {
  return [
    '-kernel', build.kernel,
    '-initrd', build.initrd,
    '-append', build.cmdline,
    '-drive', `file=${qemuValue(build.closureImage)},if=none,id=${STORE_SERIAL},format=raw,readonly=on`,
    '-device', `virtio-blk-pci,drive=${STORE_SERIAL},serial=${STORE_SERIAL}`,
    '-drive', `file=${qemuValue(diskImage(paths))},if=none,id=${DISK_SERIAL},format=qcow2`,
    '-device', `virtio-blk-pci,drive=${DISK_SERIAL},serial=${DISK_SERIAL}`,
  ];
}

/** The uplink: a virtio NIC on passt's socket (daemon/launch/uplink.ts), nothing else. */
export function uplinkArgs(socket: string): string[] {
  return [
    '-netdev', `stream,id=uplink,server=off,addr.type=unix,addr.path=${qemuValue(socket)}`,
    '-device', 'virtio-net-pci,netdev=uplink',
  ];
}

/** The serial console to a file; a window unless the VM's config says `"display": "none"`. */
export function displayArgs(vm: VmConfig, paths: VmPaths): string[] {
  return [
    '-chardev', `file,id=hiboss-console,path=${qemuValue(consoleLog(paths))}`,
    '-serial', 'chardev:hiboss-console',
    ...(vm.display === 'none' ? ['-display', 'none'] : ['-device', 'virtio-vga']),
  ];
}

export interface FlakeArgvInput {
  name: string;
  vm: VmConfig;
  paths: VmPaths;
  build: VmBuild;
  /** passt's socket; null: no uplink (the host is offline). */
  uplinkSocket: string | null;
  /** The audio device (./audio.ts audioArgsNow: none without a sound server that answers). */
  audio: string[];
  /** The member's host directories (./shares.ts shareArgs: checked; none by default). */
  shares?: string[];
}

/** The process to start: the member's QEMU and the argv above. */
export function flakeQemuArgv({ name, vm, paths, build, uplinkSocket, audio, shares = [] }: FlakeArgvInput): { file: string; args: string[] } {
  return {
    file: vm.qemuBinary ?? DEFAULT_QEMU_BINARY,
    args: [
      ...machineArgs(build),
      ...ramFileArgs(vm, paths, machineArgs(build)),
      ...bootArgs(build, paths),
      ...(uplinkSocket === null ? [] : uplinkArgs(uplinkSocket)),
      ...displayArgs(vm, paths),
      ...controlArgs(name, paths),
      ...healthArgs(paths),
      ...balloonArgs(vm),
      ...audio,
      ...shares,
    ],
  };
}
