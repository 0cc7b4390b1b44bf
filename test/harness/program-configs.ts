/**
 * Each program's own configuration files, written from the evaluated NixOS
 * option values the way the NixOS modules write them: /etc/hosts
 * (networking.hosts), tinc.conf and hosts/NAME (services.tinc.networks),
 * yggdrasil's settings JSON (services.yggdrasil.settings; the keys are merged
 * in inside the VM) and syncthing's config.xml (services.syncthing.settings).
 * Pure text: the adapter (net-adapter.ts) puts them in the VMs.
 */
import type { EvaluatedMember } from './member-config.js';

type Services = EvaluatedMember['services'];
export type TincNetwork = NonNullable<Services['tinc']>['networks'][string];
export type SyncthingSettings = NonNullable<Services['syncthing']>['settings'];

export function hostsFile(hosts: Record<string, string[]> = {}): string {
  return ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(hosts).map(([address, names]) => `${address} ${names.join(' ')}`)].join('\n') + '\n';
}

/** tinc.conf of network `net`: NixOS's fixed lines, then the network's settings (a list: one line per value). */
export function tincConf(net: string, network: TincNetwork): string {
  const lines = [
    `Name = ${network.name}`,
    'DeviceType = tun',
    'Device = /dev/net/tun',
    `Interface = tinc.${net}`,
    `PrivateKeyFile = /etc/tinc/${net}/rsa_key.priv`,
  ];
  for (const [key, value] of Object.entries(network.settings ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${key} = ${one}`);
  }
  return lines.join('\n') + '\n';
}

/** hosts/NAME: its addresses, subnets and RSA public key (the member's own: added in its VM, see the adapter). */
export function tincHostFile(host: TincNetwork['hostSettings'][string]): string {
  const lines = [
    ...host.addresses.map((a) => `Address = ${a.address}${a.port === undefined ? '' : ` ${a.port}`}`),
    ...host.subnets.map((s) => `Subnet = ${s.address}${s.prefixLength === undefined ? '' : `/${s.prefixLength}`}`),
    ...(host.rsaPublicKey === undefined ? [] : [host.rsaPublicKey.trim()]),
  ];
  return `${lines.join('\n')}\n`;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xml = (text: string | number | boolean) => String(text).replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);

/** The XML element of a list option: syncthing's config.xml repeats a singular name (listenAddresses → listenAddress). */
function singular(name: string): string {
  if (name.endsWith('Addresses')) return name.slice(0, -2);
  return name.replace(/s$/, '');
}

/**
 * config.xml for syncthing `version` (the config version of the syncthing in the VM): the devices and
 * folders of the settings (syncthing adds its own device to both when it starts), the options, no GUI.
 */
export function syncthingConfigXml(settings: SyncthingSettings, version: number): string {
  const out = [`<configuration version="${version}">`];
  for (const [key, folder] of Object.entries(settings.folders)) {
    const id = folder.id ?? key; // NixOS: a folder's id defaults to its attribute name
    out.push(`  <folder id="${xml(id)}" label="${xml(id)}" path="${xml(folder.path)}" type="sendreceive" rescanIntervalS="10" fsWatcherEnabled="true" fsWatcherDelayS="1">`);
    for (const name of folder.devices) {
      const device = settings.devices[name];
      if (!device) throw new Error(`syncthing folder ${id} names an unknown device ${name}`);
      out.push(`    <device id="${xml(device.id)}"></device>`);
    }
    out.push('  </folder>');
  }
  for (const [name, device] of Object.entries(settings.devices)) {
    out.push(`  <device id="${xml(device.id)}" name="${xml(name)}" compression="metadata" introducer="false">`);
    for (const address of device.addresses) out.push(`    <address>${xml(address)}</address>`);
    out.push('  </device>');
  }
  out.push('  <gui enabled="false" tls="false"><address>127.0.0.1:8384</address></gui>', '  <options>');
  for (const [key, value] of Object.entries(settings.options)) {
    for (const one of Array.isArray(value) ? value : [value]) out.push(`    <${Array.isArray(value) ? singular(key) : key}>${xml(one)}</${Array.isArray(value) ? singular(key) : key}>`);
  }
  out.push('    <crashReportingEnabled>false</crashReportingEnabled>', '    <autoUpgradeIntervalH>0</autoUpgradeIntervalH>', '  </options>', '</configuration>');
  return out.join('\n') + '\n';
}
