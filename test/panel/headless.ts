/** blessed on PassThrough streams: a terminal for tests, read back from screen.lines. */
import blessed from 'blessed';
import { PassThrough } from 'node:stream';
import { bound } from '../harness/bounds.js';

export interface Headless {
  screen: blessed.Widgets.Screen;
  /** The screen as text, one string per row. */
  text(): string;
  /** Types raw terminal input (keys as a terminal sends them). */
  type(data: string): void;
  /** Resolves once a render shows text matching `pattern` (checked now and after every render). */
  waitFor(pattern: RegExp | ((text: string) => boolean), timeoutMs?: number): Promise<string>;
  destroy(): void;
}

export function headlessScreen(columns = 110, rows = 32): Headless {
  const input = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode(mode: boolean): void };
  input.isTTY = true;
  input.setRawMode = () => undefined;
  const output = new PassThrough() as PassThrough & { isTTY: boolean; columns: number; rows: number };
  output.isTTY = true;
  output.columns = columns;
  output.rows = rows;
  output.resume(); // nobody reads the escape codes; do not let them pile up
  const screen = blessed.screen({
    input: input as never,
    output: output as never,
    terminal: 'xterm-256color',
    fullUnicode: true,
    warnings: false,
  });
  const text = () =>
    (screen as unknown as { lines: Array<Array<[number, string]>> }).lines.map((row) => row.map((cell) => cell[1]).join('').trimEnd()).join('\n');
  return {
    screen,
    text,
    type: (data) => input.write(data),
    waitFor(pattern, timeoutMs = 5000) {
      const test = typeof pattern === 'function' ? pattern : (t: string) => pattern.test(t);
      const limit = bound(timeoutMs);
      return new Promise((resolve, reject) => {
        const check = () => {
          const now = text();
          if (!test(now)) return;
          clearTimeout(timer);
          screen.off('render', check);
          resolve(now);
        };
        const timer = setTimeout(() => {
          screen.off('render', check);
          reject(new Error(`screen did not show ${String(pattern)} within ${limit} ms; it shows:\n${text()}`));
        }, limit);
        screen.on('render', check);
        check();
      });
    },
    destroy: () => screen.destroy(),
  };
}
