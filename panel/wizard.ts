/**
 * The new-network wizard as a state machine: which step is shown, key handling,
 * and the final commit. Its model (answers, steps, validation) is
 * panel/wizard/model.ts, its files panel/wizard/io.ts, its text
 * panel/wizard/view.ts; no blessed here — panel/app.ts shows `view()` in a
 * modal box and forwards keys, and tests drive it directly.
 */
import { APPLICATIONS } from '../networks/index.js';
import { withoutControlCharacters } from '../shared/control-chars.js';
import { answersForEdit, lookupFor, unusedColor, writeAnswers, type WizardEnv } from './wizard/io.js';
import { commitProblems, EMPTY_ANSWERS, stepsFor, validateAnswer, type Answers, type Step, type StepId, type WizardResult } from './wizard/model.js';
import { reviewLines, wizardLines } from './wizard/view.js';

export { ADMIN_LABELS, APPLICATION_LABELS, LAYER_LABELS, answersFromConfigs, buildConfigs, splitFolders, stepsFor, vmFlakeFor } from './wizard/model.js';
export type { AdminMode, Answers, Application, Step, WizardResult } from './wizard/model.js';
export { networksDirFor, type WizardEnv } from './wizard/io.js';

export class Wizard {
  answers: Answers;
  stepIndex = 0;
  /** The text being typed, or the highlighted option. */
  input = '';
  cursor = 0;
  error: string | null = null;
  busy = false;
  result: WizardResult | null = null;
  readonly editing: string | null;

  constructor(private readonly env: WizardEnv, edit?: { name: string; answers: Answers }) {
    this.editing = edit?.name ?? null;
    this.answers = edit ? { ...edit.answers } : { ...EMPTY_ANSWERS, applications: [] };
    this.#enterStep();
  }

  /** Opens the wizard on an existing wizard network. */
  static forEdit(env: WizardEnv, name: string): Wizard {
    return new Wizard(env, { name, answers: answersForEdit(env, name) });
  }

  get steps(): Step[] {
    return stepsFor(this.answers, this.editing !== null);
  }

  get step(): Step {
    return this.steps[this.stepIndex]!;
  }

  #enterStep(): void {
    const step = this.step;
    this.error = null;
    if (step.kind === 'text') this.input = this.answers[step.id];
    else if (step.kind === 'choice') {
      // No colour yet: the first one no other VM has.
      const current = step.id === 'color' && this.answers.color === '' ? unusedColor(this.env) : this.answers[step.id];
      this.cursor = Math.max(0, (step.options as readonly string[]).indexOf(current));
    }
    else this.cursor = 0;
  }

  /**
   * One key press (blessed's `key.full`/`ch`). Resolves when any commit it
   * triggered is over; `result` is set once the wizard is finished.
   */
  async key(name: string, ch?: string): Promise<void> {
    if (this.busy || this.result) return;
    const step = this.step;
    if (name === 'escape') {
      if (this.stepIndex === 0) this.result = { kind: 'cancelled' };
      else {
        this.stepIndex -= 1;
        this.#enterStep();
      }
      return;
    }
    if (name === 'C-c') {
      this.result = { kind: 'cancelled' };
      return;
    }
    // blessed reports a carriage return twice ("return", then "enter"); only "enter" counts.
    const submit = name === 'enter';
    if (step.kind === 'text') {
      if (submit) return this.#submitText(step.id, this.input.trim());
      const before = this.input;
      if (name === 'backspace') this.input = this.input.slice(0, -1);
      else if (name === 'C-u') this.input = '';
      else if (ch !== undefined && ch.length === 1 && withoutControlCharacters(ch) && this.input.length < 1024) this.input += ch;
      // The error stays until the answer changes (blessed also sends "return" after "enter").
      if (this.input !== before) this.error = null;
      return;
    }
    if (step.kind === 'choice' || step.kind === 'multi') {
      const count = step.options.length;
      if (name === 'up' || name === 'k') this.cursor = (this.cursor + count - 1) % count;
      else if (name === 'down' || name === 'j' || name === 'tab') this.cursor = (this.cursor + 1) % count;
      else if (step.kind === 'multi' && (name === 'space' || ch === ' ')) {
        const app = step.options[this.cursor]!;
        const chosen = this.answers.applications;
        this.answers.applications = chosen.includes(app) ? chosen.filter((a) => a !== app) : APPLICATIONS.filter((a) => a === app || chosen.includes(a));
      } else if (submit) {
        if (step.kind === 'choice') {
          if (step.id === 'networkLayer') {
            const layer = step.options[this.cursor]!;
            if (layer !== this.answers.networkLayer) this.answers.layerSetting = '';
            this.answers.networkLayer = layer;
          } else if (step.id === 'color') this.answers.color = step.options[this.cursor]!;
          else this.answers.adminMode = step.options[this.cursor]!;
        }
        this.#next();
      }
      return;
    }
    // review
    if (submit || name === 'y') await this.commit();
  }

  #next(): void {
    this.stepIndex = Math.min(this.stepIndex + 1, this.steps.length - 1);
    this.#enterStep();
  }

  #submitText(id: Extract<Step, { kind: 'text' }>['id'], value: string): void {
    const problem = this.validate(id, value);
    if (problem) {
      this.error = problem;
      return;
    }
    this.answers[id] = value;
    this.#next();
  }

  /** The problem with one answer, worded for the user; null when fine. */
  validate(id: StepId, value: string): string | null {
    return validateAnswer(id, value, this.answers, this.editing !== null, lookupFor(this.env));
  }

  /** Everything checked again (the config may have changed meanwhile), then written. Nothing is written on error. */
  async commit(): Promise<void> {
    this.busy = true;
    try {
      const problems = commitProblems(this.answers, this.editing !== null, lookupFor(this.env));
      if (problems.length) {
        this.error = problems.join('\n');
        return;
      }
      const outcome = await writeAnswers(this.env, this.answers, this.editing !== null);
      if ('error' in outcome) this.error = outcome.error;
      else this.result = outcome.result;
    } finally {
      this.busy = false;
    }
  }

  /** What the wizard box shows (blessed tags; user text escaped). */
  view(): string[] {
    const { answers, stepIndex, input, cursor, error, editing } = this;
    return wizardLines({ answers, steps: this.steps, stepIndex, input, cursor, error, editing, networksDir: this.env.networksDir, configFile: this.env.configFile });
  }

  reviewLines(): string[] {
    return reviewLines(this.answers, this.env.networksDir, this.env.configFile);
  }
}
