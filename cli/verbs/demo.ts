import type { Verb } from '../args.js';
export const demoVerb: Verb = { summary: 'demo', usage: 'usage: hiboss demo', run: async () => 2 };
