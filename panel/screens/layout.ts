/**
 * The panel's widgets: tree (left), detail (right), log (bottom), status line,
 * and a modal box shared by the wizard and confirmations. Only placement and
 * drawing; what to show comes from view-model.ts, what keys do from app.ts.
 */
import blessed from 'blessed';

export interface Layout {
  screen: blessed.Widgets.Screen;
  tree: blessed.Widgets.ListElement;
  detail: blessed.Widgets.BoxElement;
  log: blessed.Widgets.Log;
  status: blessed.Widgets.BoxElement;
  modal: blessed.Widgets.BoxElement;
}

export const LOG_HEIGHT = 10;
export const STATUS_HEIGHT = 2;

export function createLayout(screen: blessed.Widgets.Screen): Layout {
  const tree = blessed.list({
    parent: screen,
    label: ' Networks ',
    top: 0,
    left: 0,
    width: '40%',
    bottom: LOG_HEIGHT + STATUS_HEIGHT,
    border: { type: 'line' },
    tags: true,
    keys: true,
    mouse: true,
    style: { selected: { inverse: true }, border: { fg: 'blue' } },
    items: [],
  });
  const detail = blessed.box({
    parent: screen,
    label: ' Detail ',
    top: 0,
    left: '40%',
    right: 0,
    bottom: LOG_HEIGHT + STATUS_HEIGHT,
    border: { type: 'line' },
    tags: true,
    style: { border: { fg: 'blue' } },
    // Scrolled with PageUp/PageDown and the mouse wheel: it holds more than a small terminal shows.
    scrollable: true,
    alwaysScroll: true,
    mouse: true,
    scrollbar: { ch: ' ', style: { bg: 'blue' } },
  });
  const log = blessed.log({
    parent: screen,
    label: ' Log ',
    left: 0,
    right: 0,
    bottom: STATUS_HEIGHT,
    height: LOG_HEIGHT,
    border: { type: 'line' },
    tags: false, // VM output is shown as it is, never interpreted as tags
    scrollback: 500,
    mouse: true,
    style: { border: { fg: 'blue' } },
  });
  // Two lines: what just happened (and the focused workspace) above, the keys below, always.
  const status = blessed.box({ parent: screen, bottom: 0, left: 0, right: 0, height: STATUS_HEIGHT, tags: true });
  const modal = blessed.box({
    parent: screen,
    top: 'center',
    left: 'center',
    width: '80%',
    height: '80%',
    border: { type: 'line' },
    tags: true,
    hidden: true,
    keyable: true,
    style: { border: { fg: 'yellow' } },
  });
  tree.focus();
  return { screen, tree, detail, log, status, modal };
}

/** Sets log lines; control characters from VM consoles are made visible, not sent to the terminal. */
export function showLog(log: blessed.Widgets.Log, lines: readonly string[]): void {
  log.setContent(lines.map(sanitizeLine).join('\n'));
  log.setScrollPerc(100);
}

export function appendLogLine(log: blessed.Widgets.Log, line: string): void {
  log.log(sanitizeLine(line));
}

export function sanitizeLine(line: string): string {
  return line.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `^${String.fromCharCode((c.charCodeAt(0) + 64) & 0x7f)}`).replace(/\t/g, '  ');
}
