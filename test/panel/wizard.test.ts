/**
 * The wizard's model without a screen: options are networks/'s enums, every
 * layer/admin/application combination it can produce validates, errors write
 * nothing, edit rewrites in place. Plus the pure view-model helpers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig, writeFileAtomic } from '../../config/file.js';
import { ADMIN_MODES, APPLICATIONS, NETWORK_LAYERS, checkConfigs, parseConfigs } from '../../networks/index.js';
import { applyFocus, applyStateChange, detailLines, groupNetworks, treeRows } from '../../panel/view-model.js';
import { Wizard, buildConfigs, stepsFor, type Answers, type WizardEnv } from '../../panel/wizard.js';
import { vmEntryFor } from '../../panel/wizard/model.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { vmFixture } from '../harness/fake-daemon.js';

interface Ctx {
  sandbox: Sandbox;
  env: WizardEnv;
  reloads: number;
}
const t = suite<Ctx>('wizard model');

t.before.each((ctx) => {
  ctx.sandbox = makeSandbox('wizard');
  ctx.reloads = 0;
  const configFile = path.join(ctx.sandbox.configHome, 'hiboss', 'config.json');
  writeFileAtomic(configFile, JSON.stringify({ vms: { work: { workspace: '1', flake: 'github:me/work#work' } } }));
  ctx.env = {
    networksDir: path.join(ctx.sandbox.dataHome, 'hiboss', 'networks'),
    configFile,
    reload: async () => {
      ctx.reloads += 1;
      return [];
    },
  };
});
t.after.each((ctx) => ctx.sandbox.remove());

const base: Answers = {
  name: 'net', networkLayer: 'yggdrasil', layerSetting: '', adminMode: 'local', adminKey: '', applications: [],
  sharedFolders: '', mumbleServer: '', workspace: '2', color: '',
};
const SETTINGS = { yggdrasil: '', wireguard: '10.77.0.2/24', zerotier: '8056c2e21c000001', tinc: '10.78.0.2/24' } as const;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@example';

t('the VM that serves the network\'s servers runs while hidden; a VM with clients only pauses', () => {
  assert.equal(vmEntryFor({ ...base, applications: ['syncthing', 'mumbleClient'] }, '/n'), { workspace: '2', flake: 'path:/n/net#net' });
  for (const server of ['mumbleServer', 'gitServer', 'nextcloud'] as const) {
    assert.is(vmEntryFor({ ...base, applications: ['syncthing', server] }, '/n').whenHidden, 'run', server);
  }
});

t('the options offered are exactly networks/\'s enums', () => {
  const steps = stepsFor({ ...base, networkLayer: 'wireguard', adminMode: 'remote', applications: ['syncthing', 'mumbleClient'] }, false);
  const byId = Object.fromEntries(steps.map((s) => [s.id, s]));
  assert.equal(byId.networkLayer!.kind === 'choice' && byId.networkLayer!.options, NETWORK_LAYERS);
  assert.equal(byId.adminMode!.kind === 'choice' && byId.adminMode!.options, ADMIN_MODES);
  assert.equal(byId.applications!.kind === 'multi' && byId.applications!.options, APPLICATIONS);
  assert.equal(steps.map((s) => s.id), ['name', 'networkLayer', 'layerSetting', 'adminMode', 'adminKey', 'applications', 'sharedFolders', 'mumbleServer', 'workspace', 'color', 'review']);
  assert.equal(stepsFor(base, true).map((s) => s.id), ['networkLayer', 'adminMode', 'applications', 'workspace', 'color', 'review']);
});

t('every layer × admin mode, with every application, builds a configs.json that validates', () => {
  for (const layer of NETWORK_LAYERS) {
    for (const admin of ADMIN_MODES) {
      const answers: Answers = {
        ...base, networkLayer: layer, layerSetting: SETTINGS[layer], adminMode: admin, adminKey: KEY,
        applications: [...APPLICATIONS], sharedFolders: '/shared/a, /shared/b', mumbleServer: 'voice.example:64738',
      };
      const configs = checkConfigs(buildConfigs(answers));
      assert.is(configs.net!.networkLayer, layer);
      assert.is(configs.net!.adminMode, admin);
      for (const app of APPLICATIONS) assert.ok(configs.net!.applications[app].enable, `${layer}/${admin}/${app}`);
    }
  }
});

async function typeText(w: Wizard, text: string) {
  for (const ch of text) await w.key(ch, ch);
  await w.key('enter');
}

t('commit writes both files, binds the VM, reloads; edit rewrites in place', async (ctx) => {
  const w = new Wizard(ctx.env);
  await typeText(w, 'home');
  await w.key('down');
  await w.key('down');
  await w.key('enter'); // zerotier
  await typeText(w, 'NOT-HEX');
  assert.match(w.error ?? '', /not a ZeroTier network id/);
  await w.key('C-u');
  await typeText(w, '8056c2e21c000001');
  await w.key('enter'); // local
  await w.key('down');
  await w.key('down');
  await w.key('space'); // mumbleServer
  await w.key('enter');
  await typeText(w, '1');
  assert.match(w.error ?? '', /workspace "1" is already bound to VM "work"/);
  assert.not.ok(fs.existsSync(ctx.env.networksDir));
  await w.key('backspace');
  await typeText(w, '6');
  assert.is(w.step.id, 'color');
  assert.match(w.view().join('\n'), /> \( \) #c62828 +\{#c62828-fg\}██\{\/#c62828-fg\} red/, 'the first colour no VM has, offered');
  await w.key('down');
  await w.key('enter'); // green
  assert.is(w.step.id, 'review');
  assert.ok(w.reviewLines().includes('colour         green'));
  await w.key('enter');
  assert.equal(w.result?.kind, 'done', w.error ?? '');
  assert.is(ctx.reloads, 1);
  const dir = path.join(ctx.env.networksDir, 'home');
  const configs = parseConfigs(fs.readFileSync(path.join(dir, 'configs.json'), 'utf8'));
  assert.is(configs.home!.zerotier.networkId, '8056c2e21c000001');
  assert.ok(configs.home!.applications.mumbleServer.enable);
  // It serves the network's Mumble server: it keeps running while its workspace is hidden.
  assert.equal(readConfig(ctx.env.configFile).vms.home, { workspace: '6', flake: `path:${dir}#home`, color: '#2e7d32', restart: 'on-failure', whenHidden: 'run' });

  const edit = Wizard.forEdit(ctx.env, 'home');
  assert.is(edit.step.id, 'networkLayer');
  assert.is(edit.answers.layerSetting, '8056c2e21c000001');
  await edit.key('up');
  await edit.key('enter'); // zerotier → wireguard: the zerotier id is not carried over
  assert.is(edit.input, '');
  await typeText(edit, '10.77.0.9/24');
  await edit.key('enter'); // local
  await edit.key('enter'); // applications as they were
  await typeText(edit, ''); // workspace 6 stays (its own)
  await edit.key('enter'); // green stays
  assert.is(edit.step.id, 'review', edit.error ?? '');
  await edit.key('enter');
  assert.equal(edit.result?.kind, 'done', edit.error ?? '');
  const edited = parseConfigs(fs.readFileSync(path.join(dir, 'configs.json'), 'utf8'));
  assert.is(edited.home!.networkLayer, 'wireguard');
  assert.is(edited.home!.wireguard.address, '10.77.0.9/24');
  assert.is(edited.home!.zerotier.networkId, null);
  assert.is(readConfig(ctx.env.configFile).vms.home!.color, '#2e7d32', 'the colour is kept by an edit');
});

t('a config that changed meanwhile is caught at commit; nothing is written', async (ctx) => {
  const w = new Wizard(ctx.env);
  await typeText(w, 'late');
  await w.key('enter');
  await w.key('enter');
  await w.key('enter');
  await typeText(w, '4');
  await w.key('enter'); // the colour offered
  assert.is(w.step.id, 'review');
  // Someone binds workspace 4 before the user confirms.
  writeFileAtomic(ctx.env.configFile, JSON.stringify({ vms: { work: { workspace: '1', flake: 'github:me/work#work' }, other: { workspace: '4', flake: 'github:o/o#other' } } }));
  await w.key('enter');
  assert.is(w.result, null);
  assert.match(w.error ?? '', /Workspace to bind: workspace "4" is already bound to VM "other"/);
  assert.not.ok(fs.existsSync(ctx.env.networksDir));
  assert.is(ctx.reloads, 0);
});

const vm = suite('view model');

vm('groups by flake, applies signals, escapes tags from the daemon', () => {
  const status = {
    vms: [
      vmFixture('b', { flake: 'github:o/r#b', state: 'running' as const }),
      vmFixture('a', { flake: 'github:o/r#a' }),
      vmFixture('q{red-fg}x', { reason: 'boom {bold}' }),
    ],
    focusedWorkspace: null, focusedVm: null, wm: 'sway' as const, configProblems: [],
  };
  assert.equal(groupNetworks(status.vms, '/n').map((n) => [n.label, n.vms.map((v) => v.name)]), [['github:o/r', ['a', 'b']], ['QEMU VMs', ['q{red-fg}x']]]);
  const rows = treeRows(applyFocus(applyStateChange(status, { name: 'a', state: 'failed', reason: 'x' }), { workspace: '2', vm: 'a' }), '/n');
  assert.equal(rows.map((r) => r.text), [
    '▾ github:o/r',
    '  {red-fg}✖{/red-fg} a* failed',
    '  {green-fg}▶{/green-fg} b running',
    '▾ QEMU VMs',
    '  {white-fg}■{/white-fg} q{open}red-fg{close}x stopped',
  ]);
  const detail = detailLines(vmFixture('r', { state: 'running', uptimeMs: 59_000 }), 2_000);
  assert.ok(detail.includes('uptime     1m01s'), detail.join('\n'));
});

t.run();
vm.run();
