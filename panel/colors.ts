/** The panel's `c` key: the selected VM's network colour, cycled through the palette (then none). */
import { colorName, nextColor } from '../config/colors.js';
import { ConfigError, readConfig, setVmColor } from '../config/file.js';

export interface Reloader {
  available: boolean;
  reload(): Promise<string[]>;
}

/** Sets the VM's next palette colour in config.json and has the daemon re-read it (windows are relabelled). */
export async function cycleVmColor(client: Reloader, configFile: string, name: string): Promise<string> {
  let chosen: string | null = null;
  try {
    const vm = readConfig(configFile).vms[name];
    if (!vm) throw new ConfigError(configFile, [`vms.${name}: no such VM`]);
    chosen = nextColor(vm.color);
    setVmColor(configFile, name, chosen);
  } catch (error) {
    if (error instanceof ConfigError) throw new Error(`cannot change ${name}'s colour: ${error.problems.join('; ')}`);
    throw error;
  }
  const what = chosen === null ? `${name}: no colour` : `${name}: ${colorName(chosen)} (${chosen})`;
  if (!client.available) return `${what}; the daemon reads it when it starts`;
  const problems = await client.reload();
  return problems.length ? `${what}, but the daemon refused the config: ${problems.join('; ')}` : what;
}

/** A swatch of the colour in blessed tags (nothing without one). */
export function swatch(color: string | null | undefined): string {
  return color ? `{${color}-fg}█{/${color}-fg}` : ' ';
}
