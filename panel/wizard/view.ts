/**
 * The new-network wizard as text: the box's lines in blessed tags (user text
 * escaped) for the step shown, and the review of everything it will write.
 * Pure; the panel (panel/app.ts) puts the lines in a modal box.
 */
import path from 'node:path';
import { colorName } from '../../config/colors.js';
import { escapeTags } from '../view-model.js';
import { splitFolders, vmFlakeFor, type Answers, type Application, type Step } from './model.js';

export interface WizardShown {
  answers: Answers;
  steps: Step[];
  stepIndex: number;
  input: string;
  cursor: number;
  error: string | null;
  /** The network being edited; null for a new one. */
  editing: string | null;
  networksDir: string;
  configFile: string;
}

export function wizardLines(shown: WizardShown): string[] {
  const { steps, stepIndex, answers } = shown;
  const step = steps[stepIndex]!;
  const title = `${shown.editing ? `Edit network ${escapeTags(shown.editing)}` : 'New network'} — step ${stepIndex + 1}/${steps.length}: ${step.title}`;
  const lines = [`{bold}${title}{/bold}`, ''];
  if (step.kind === 'text') {
    lines.push(`{gray-fg}${escapeTags(step.hint)}{/gray-fg}`, `> ${escapeTags(shown.input)}█`);
  } else if (step.kind === 'choice' || step.kind === 'multi') {
    const current = step.kind === 'choice' ? answers[step.id] : null;
    step.options.forEach((option, index) => {
      const pointer = index === shown.cursor ? '>' : ' ';
      const mark = step.kind === 'multi'
        ? (answers.applications.includes(option as Application) ? '[x]' : '[ ]')
        : option === current ? '(*)' : '( )';
      const line = `${pointer} ${mark} ${option.padEnd(13)} ${step.labels[option] ?? ''}`;
      lines.push(index === shown.cursor ? `{inverse}${line}{/inverse}` : line);
    });
    lines.push('', step.kind === 'multi' ? '{gray-fg}space: toggle  enter: continue{/gray-fg}' : '{gray-fg}↑/↓: choose  enter: continue{/gray-fg}');
  } else {
    lines.push(...reviewLines(answers, shown.networksDir, shown.configFile).map(escapeTags), '', 'Press {bold}enter{/bold} to write it, esc to go back.');
  }
  if (shown.error) lines.push('', ...shown.error.split('\n').map((line) => `{red-fg}✖ ${escapeTags(line)}{/red-fg}`));
  lines.push('', '{gray-fg}esc: back (cancel on the first step){/gray-fg}');
  return lines;
}

export function reviewLines(a: Answers, networksDir: string, configFile: string): string[] {
  const dir = path.join(networksDir, a.name);
  const layer = a.networkLayer === 'yggdrasil' ? a.networkLayer : `${a.networkLayer} (${a.layerSetting})`;
  const apps = a.applications.map((app) =>
    app === 'syncthing' ? `syncthing (folders: ${splitFolders(a.sharedFolders).join(', ') || 'none'})` : app === 'mumbleClient' ? `mumbleClient (server ${a.mumbleServer})` : app,
  );
  return [
    `name           ${a.name}`,
    `network layer  ${layer}`,
    `admin mode     ${a.adminMode}`,
    `applications   ${apps.join(', ') || 'none'}`,
    `workspace      ${a.workspace}`,
    `colour         ${a.color ? colorName(a.color) : 'none'}`,
    `writes         ${path.join(dir, 'configs.json')}, ${path.join(dir, 'flake.nix')}`,
    `adds VM        ${a.name} (flake ${vmFlakeFor(networksDir, a.name)}) to ${configFile}`,
  ];
}
