/**
 * One check for control characters (shared/control-chars.ts) on every string a
 * user or a URI gives: C0, DEL and C1 (NEL, U+0085, among them) — in a CLI
 * argument or flag value, a join URI, a workspace or flake in config.json, a
 * backup target.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs, UsageError } from '../../cli/args.js';
import { BackupTarget } from '../../config/backup-schema.js';
import { VmConfig } from '../../config/schema.js';
import { parseJoinUri } from '../../panel/join.js';
import { controlCharacterProblem, findControlCharacter } from '../../shared/control-chars.js';

const t = suite('control characters');

const CONTROLS = ['\u0000', '\n', '\u001b', '\u007f', '\u0080', '\u0085', '\u009b', '\u009f'];

t('C0, DEL and C1 are found; printable text (also beyond Latin-1) is not', () => {
  for (const c of CONTROLS) assert.equal(findControlCharacter(`ws${c}x`)?.index, 2, JSON.stringify(c));
  assert.is(controlCharacterProblem('a\u0085', 'the name'), 'the name contains a control character (U+0085) at position 2');
  for (const text of ['2: mail', 'ärger', 'café ☕', '\u00a0nbsp', '日本']) assert.is(findControlCharacter(text), null, text);
});

t('the CLI: every flag value and positional is checked, unless the verb checks its own', () => {
  assert.throws(() => parseArgs(['--workspace', 'a\u0085'], { valued: ['workspace'] }), (e: unknown) => e instanceof UsageError && e.message === '--workspace contains a control character (U+0085) at position 2');
  assert.throws(() => parseArgs(['--workspace=\u009b2J'], { valued: ['workspace'] }), /--workspace contains a control character \(U\+009B\) at position 1/);
  assert.throws(() => parseArgs(['start', 'web\u0007'], {}), /argument 2 contains a control character \(U\+0007\) at position 4/);
  assert.equal(parseArgs(['{\n"a": 1}'], { positionals: 'checked-by-verb' }).positional, ['{\n"a": 1}']);
  assert.throws(() => parseArgs(['--timeout', '1\n'], { valued: ['timeout'], positionals: 'checked-by-verb' }), /--timeout contains a control character \(U\+000A\)/);
});

t('a join URI with NEL is refused like any other control character', () => {
  const parsed = parseJoinUri('nix://github/acme/net#ac\u0085me');
  assert.equal(parsed.ok ? null : parsed.message, 'refused: the URI contains a control character (U+0085) at position 25');
});

t('config.json: a workspace, a flake or a backup target with a control character is refused', () => {
  for (const c of CONTROLS) {
    const workspace = VmConfig.safeParse({ workspace: `2${c}`, qemu: ['qemu-system-x86_64'] });
    assert.is(workspace.success, false, JSON.stringify(c));
    assert.match(workspace.error!.issues[0]!.message, /must not contain control characters \(C0, DEL or C1\)/);
    assert.is(VmConfig.safeParse({ workspace: '2', flake: `github:a/b#c${c}` }).success, false);
    assert.is(BackupTarget.safeParse(`/srv/back${c}ups`).success, false);
  }
  assert.is(VmConfig.safeParse({ workspace: '2: ärger', qemu: ['qemu-system-x86_64'] }).success, true);
});

t.run();
