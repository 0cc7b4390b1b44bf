/**
 * The panel's Market tab (key m) as a state machine: the trusted catalogues
 * fetched in the background with their progress, a list searched as you type,
 * an entry's detail (apps, layer, contact, donation link), and join — the
 * entry's source resolved (primary, else a mirror that is the same source),
 * then `hiboss join`'s own review, and on y the same command joining. No
 * blessed here: app.ts draws view() and forwards keys; tests drive it.
 */
import type { CatalogueEntry } from '../market/catalogue-schema.js';
import type { CatalogueView, EntryView, Progress } from '../market/market.js';
import { searchEntries, visibleEntries } from '../market/market.js';
import type { Attempt, EntrySource } from '../market/mirrors.js';
import { catalogueState, entryLines } from '../market/render.js';
import { escapeTags } from './view-model.js';

type Visible = Extract<EntryView, { visible: true }>;

export interface MarketEnv {
  /** Fetches and checks every trusted catalogue (null: none configured). */
  load(onProgress: (progress: Progress) => void): Promise<CatalogueView[] | null>;
  resolve(entry: CatalogueEntry, onAttempt: (attempt: Attempt) => void): Promise<EntrySource>;
  /** `hiboss join` with these arguments: its exit code and output. */
  join(args: string[]): Promise<{ code: number; output: string }>;
}

type Screen =
  | { kind: 'list' }
  | { kind: 'detail'; item: Visible }
  | { kind: 'joining'; item: Visible; attempts: Attempt[] }
  | { kind: 'review'; item: Visible; joinRef: string; text: string; canJoin: boolean }
  | { kind: 'result'; item: Visible; text: string; ok: boolean };

export class MarketScreen {
  query = '';
  cursor = 0;
  screen: Screen = { kind: 'list' };
  closed = false;
  /** Per catalogue: what it is doing now ("fetching …") until its view arrives. */
  progress = new Map<string, string>();
  views: CatalogueView[] = [];
  loaded = false;
  configured = true;

  constructor(private readonly env: MarketEnv, private readonly onChange: () => void) {}

  /** Starts the background fetch; the list fills in as catalogues arrive. */
  async load(): Promise<void> {
    const views = await this.env.load((progress) => {
      switch (progress.kind) {
        case 'fetching':
          this.progress.set(progress.catalogue, `fetching ${progress.url}…`);
          break;
        case 'verifying':
          this.progress.set(progress.catalogue, `checking ${progress.entries} signatures…`);
          break;
        case 'done':
          this.progress.delete(progress.catalogue);
          this.views = [...this.views.filter((v) => v.name !== progress.view.name), progress.view];
          break;
        default: {
          const never: never = progress;
          throw new Error(`unknown progress ${JSON.stringify(never)}`);
        }
      }
      this.onChange();
    });
    this.configured = views !== null;
    if (views) this.views = views;
    this.loaded = true;
    this.onChange();
  }

  get matches(): Visible[] {
    return searchEntries(visibleEntries(this.views), this.query);
  }

  /** Handles a key; resolves when what it started (a join) is done. */
  async key(name: string, ch: string | undefined): Promise<void> {
    const screen = this.screen;
    switch (screen.kind) {
      case 'list': {
        const matches = this.matches;
        if (name === 'escape') {
          if (this.query) this.query = '';
          else this.closed = true;
        } else if (name === 'up') this.cursor = Math.max(0, this.cursor - 1);
        else if (name === 'down') this.cursor = Math.min(Math.max(matches.length - 1, 0), this.cursor + 1);
        else if (name === 'enter' || name === 'return') {
          const item = matches[this.cursor];
          if (item) this.screen = { kind: 'detail', item };
        } else if (name === 'backspace') {
          this.query = this.query.slice(0, -1);
          this.cursor = 0;
        } else if (ch && /^[\x20-\x7e]$/.test(ch) && this.query.length < 64) {
          this.query += ch;
          this.cursor = 0;
        }
        return;
      }
      case 'detail':
        if (name === 'escape') this.screen = { kind: 'list' };
        else if (name === 'j') await this.#join(screen.item);
        return;
      case 'joining':
        return; // busy: keys wait
      case 'review':
        if (name === 'escape' || name === 'n') this.screen = { kind: 'detail', item: screen.item };
        else if (name === 'y' && screen.canJoin) {
          const result = await this.env.join(['--yes', screen.joinRef]);
          this.screen = { kind: 'result', item: screen.item, text: result.output, ok: result.code === 0 };
        }
        return;
      case 'result':
        if (name === 'escape' || name === 'enter' || name === 'return') this.screen = screen.ok ? { kind: 'list' } : { kind: 'detail', item: screen.item };
        return;
      default: {
        const never: never = screen;
        throw new Error(`unknown screen ${JSON.stringify(never)}`);
      }
    }
  }

  async #join(item: Visible): Promise<void> {
    const joining: Screen = { kind: 'joining', item, attempts: [] };
    this.screen = joining;
    this.onChange();
    const source = await this.env.resolve(item.entry, (attempt) => {
      joining.attempts.push(attempt);
      this.onChange();
    });
    if (!source.ok) {
      this.screen = { kind: 'result', item, ok: false, text: [...joining.attempts.map(attemptLine), '', 'No source that is the same as the signed entry could be fetched; nothing was written.'].join('\n') };
      return;
    }
    const review = await this.env.join(['--print-review', source.joinRef]);
    this.screen = { kind: 'review', item, joinRef: source.joinRef, canJoin: review.code === 0, text: [...joining.attempts.map(attemptLine), '', review.output].join('\n') };
  }

  /** What the market box shows (blessed tags; catalogue text escaped). */
  view(): string[] {
    const screen = this.screen;
    const lines = ['{bold}Market{/bold} — networks from the catalogues you trust', ''];
    switch (screen.kind) {
      case 'list': {
        lines.push(`search: ${escapeTags(this.query)}█`, '');
        if (!this.configured) lines.push('No catalogues trusted yet: add one to config.json ("market": { "catalogues": [ … ] }).');
        for (const view of [...this.views].sort((a, b) => a.name.localeCompare(b.name))) {
          const hidden = view.entries.filter((e) => !e.visible).length;
          lines.push(`{gray-fg}catalogue ${escapeTags(view.name)}: ${escapeTags(catalogueState(view))}${hidden ? `; ${hidden} hidden (hiboss market list says why)` : ''}{/gray-fg}`);
        }
        for (const [name, doing] of this.progress) lines.push(`{yellow-fg}catalogue ${escapeTags(name)}: ${escapeTags(doing)}{/yellow-fg}`);
        if (!this.loaded && this.progress.size === 0) lines.push('{yellow-fg}loading…{/yellow-fg}');
        lines.push('');
        const matches = this.matches;
        matches.forEach((item, index) => {
          const row = `${`${item.catalogue}/${item.entry.name}`.padEnd(24)} ${item.entry.layer.padEnd(9)} ${item.entry.summary.slice(0, 60)}`;
          lines.push(index === this.cursor ? `{inverse}> ${escapeTags(row)}{/inverse}` : `  ${escapeTags(row)}`);
        });
        if (this.loaded && !matches.length && this.configured) lines.push(this.query ? `No network matches "${escapeTags(this.query)}".` : 'No networks offered.');
        lines.push('', '{gray-fg}type to search  ↑/↓ choose  enter: detail  esc: clear / close{/gray-fg}');
        return lines;
      }
      case 'detail': {
        const view = this.views.find((v) => v.name === screen.item.catalogue)!;
        lines.push(...entryLines(screen.item, view).map(escapeTags), '', '{gray-fg}j: join (shows the review first)  esc: back{/gray-fg}');
        return lines;
      }
      case 'joining':
        lines.push(`Finding a source for ${escapeTags(screen.item.entry.name)}…`, ...screen.attempts.map((a) => escapeTags(attemptLine(a))));
        return lines;
      // The prompt first: a long review must not push it off a small terminal.
      case 'review':
        lines.push(screen.canJoin ? 'Press {bold}y{/bold} to join, n or esc to go back.' : 'esc: back', '', ...screen.text.split('\n').map(escapeTags));
        return lines;
      case 'result':
        lines.push('{gray-fg}enter: back{/gray-fg}', '', ...screen.text.split('\n').map((l) => (screen.ok ? escapeTags(l) : `{red-fg}${escapeTags(l)}{/red-fg}`)));
        return lines;
      default: {
        const never: never = screen;
        throw new Error(`unknown screen ${JSON.stringify(never)}`);
      }
    }
  }
}

function attemptLine(attempt: Attempt): string {
  return `${attempt.outcome === 'used' ? 'using' : attempt.outcome}: ${attempt.uri}: ${attempt.detail}`;
}
