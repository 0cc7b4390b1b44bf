/**
 * `hiboss` — one entry point, verbs dispatched from the table in verbs/index.ts.
 */
import { UsageError, helpRequested } from './args.js';
import { verbs } from './verbs/index.js';

function mainUsage(): string {
  const width = Math.max(...Object.keys(verbs).map((v) => v.length));
  return [
    'usage: hiboss VERB [ARGS…]   (hiboss VERB --help for details)',
    '',
    ...Object.entries(verbs).map(([name, v]) => `  ${name.padEnd(width)}  ${v.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [verbName, ...rest] = argv;
  if (verbName === undefined || verbName === '--help' || verbName === '-h' || verbName === 'help') {
    console.log(mainUsage());
    return verbName === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(verbs, verbName) ? verbs[verbName] : undefined;
  if (!entry) {
    console.error(`hiboss: unknown verb "${verbName}" (try hiboss --help)`);
    return 2;
  }
  const verb = await entry.load();
  if (helpRequested(rest)) {
    console.log(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`hiboss ${verbName}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
