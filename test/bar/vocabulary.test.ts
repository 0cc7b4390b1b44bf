/**
 * Every vocabulary of the bar declared once, and what must follow it held to it:
 * the states' looks (api/states.ts) — waybar's style.css has the same colours,
 * and every glyph is in DejaVu Sans (asked of the real fontconfig, so that no
 * state draws as a missing-glyph box) — and the clicks (bar-module/clicks.ts
 * CLICKS): the shipped waybar fragment and the Nix module (evaluated by the real
 * nix-instantiate) run exactly those.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKUP_MARK } from '../../api/backup-format.js';
import { VM_STATES } from '../../api/schema.js';
import { BAR_COLOURS, STATE_GLYPHS, STATE_LOOKS, TERMINAL_COLOURS } from '../../api/states.js';
import { CLICKS, clickAction } from '../../bar-module/clicks.js';
import { STATE_COLOURS as BAR_STATE_COLOURS } from '../../bar-module/render.js';
import { STATE_COLOURS as PANEL_STATE_COLOURS } from '../../panel/view-model.js';
import { nixEval, REPO } from '../nix/nix-eval.js';
import { stripJsonComments } from './waybar-util.js';

const t = suite('the bar\'s vocabularies, declared once');

t('one table of states: every VM state (and down, none) has a glyph, a bar colour and a terminal colour; the bar and the panel use it', () => {
  assert.equal(Object.keys(STATE_LOOKS).sort(), [...VM_STATES, 'down', 'none'].sort());
  assert.is(BAR_STATE_COLOURS, BAR_COLOURS);
  assert.is(PANEL_STATE_COLOURS, TERMINAL_COLOURS);
  for (const [state, look] of Object.entries(STATE_LOOKS)) {
    assert.is(STATE_GLYPHS[state as keyof typeof STATE_GLYPHS], look.glyph);
    assert.match(look.bar, /^#[0-9a-f]{6}$/);
  }
});

t("waybar's style.css gives each state the table's colour", () => {
  const css = fs.readFileSync(path.join(REPO, 'bar-module/style.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const background = new Map<string, string>();
  for (const [, selectors, body] of css.matchAll(/([^{}]+)\{([^}]*)\}/g)) {
    const colour = /background-color:\s*([^;]+);/.exec(body!)?.[1]?.trim();
    for (const selector of selectors!.split(',')) {
      const state = /^#custom-hiboss\.([a-z]+)$/.exec(selector.trim())?.[1];
      if (state && colour) background.set(state, colour);
    }
  }
  for (const state of [...VM_STATES, 'down'] as const) assert.is(background.get(state), BAR_COLOURS[state], state);
  // No VM: no pill, only the text, in the table's colour.
  assert.is(background.get('none'), 'transparent');
  assert.match(css, new RegExp(`#custom-hiboss\\.none\\s*\\{[^}]*\\bcolor:\\s*${BAR_COLOURS.none};`));
});

t('every glyph the bar and the panel draw is in DejaVu Sans (fontconfig says so)', () => {
  const glyphs = new Set([...Object.values(STATE_GLYPHS), '›', ...BACKUP_MARK.replace(/[a-z ]/g, '')]);
  for (const glyph of glyphs) {
    const hex = glyph.codePointAt(0)!.toString(16);
    const families = execFileSync('fc-list', [`:charset=${hex}`, 'family'], { encoding: 'utf8' });
    assert.ok(families.split('\n').some((line) => line.split(',').includes('DejaVu Sans')), `${glyph} (U+${hex.toUpperCase()}) is not in DejaVu Sans: ${families.trim() || 'no font has it'}`);
  }
});

t('i3bar clicks are decided from the table', () => {
  assert.equal(CLICKS.map((c) => c.button), [1, 2, 3, 4, 5]);
  assert.equal(clickAction({ button: 1, instance: 'web' }), { kind: 'act', verb: 'toggle', name: 'web' });
  assert.equal(clickAction({ button: 1, instance: 'none' }), { kind: 'act', verb: 'toggle', name: '' });
  assert.equal(clickAction({ button: 2, instance: 'web' }), { kind: 'act', verb: 'hibernate', name: 'web' });
  assert.is(clickAction({ button: 2, instance: 'down' }), null);
  assert.equal(clickAction({ button: 3 }), { kind: 'panel' });
  assert.equal(clickAction({ button: 5, instance: 'web' }), { kind: 'act', verb: 'prev', name: '' });
  assert.is(clickAction({ button: 9 }), null);
});

async function shippedModules() {
  const fragment = JSON.parse(stripJsonComments(fs.readFileSync(path.join(REPO, 'bar-module/waybar-module.jsonc'), 'utf8')));
  const nix = await nixEval('import ./nix/waybar-module.nix { }');
  return { jsonc: fragment['custom/hiboss'] as Record<string, unknown>, nix: nix as Record<string, unknown> };
}

t('the waybar fragment and the Nix module run exactly the table\'s clicks, and are the same module', async () => {
  const { jsonc, nix } = await shippedModules();
  for (const module of [jsonc, nix]) {
    const clickKeys = Object.keys(module).filter((key) => key.startsWith('on-'));
    assert.equal(clickKeys.sort(), CLICKS.map((c) => c.waybarKey).sort());
    for (const click of CLICKS) {
      const command = module[click.waybarKey] as string;
      if (click.action === 'panel') assert.match(command, /^\S+ -e hiboss panel$/);
      else assert.is(command, `hiboss ${click.action}`);
    }
  }
  assert.equal(nix, jsonc);
});

t.run();
