/**
 * The network VM's desktop, evaluated offline from nix/lib: a tabbed
 * sway session whose systemd unit restarts it, every network app started in it
 * (browser on the services page, Mumble, a file manager on the shared folder),
 * PipeWire's PulseAudio server for sound — for every wizard-producible config.
 * That these options exist upstream, with these types, is upstream-options.test.ts.
 */
import { execa } from 'execa';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FIXTURES, NIX_LIB, REPO, nixEval } from './nix-eval.js';

const t = suite('the network VM\'s desktop: tabbed sway, restarted, with sound');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const settingsOf = (file: string): Promise<Json> =>
  nixEval(
    `{ file, lib }:
      builtins.mapAttrs
        (name: entry: (import (lib + "/service-settings.nix") { } { inherit name; inherit (entry) hiboss; }).settings)
        (import (lib + "/shape-configs.nix") (builtins.fromJSON (builtins.readFile file)))`,
    { file, lib: NIX_LIB },
  );

t("the seed's network: sway restarted by systemd, its apps in tabs, Mumble on the network's server, PipeWire's pulse", async () => {
  const { default: s } = await settingsOf(path.join(FIXTURES, 'seed.json'));
  const unit = s.systemd.services['hiboss-desktop'];
  assert.is(unit.serviceConfig.Restart, 'always', 'the session comes back whenever it ends');
  assert.is(unit.unitConfig.StartLimitIntervalSec, 0, 'and never gives up');
  assert.is(unit.serviceConfig.User, 'member');
  assert.is(unit.serviceConfig.PAMName, 'login', 'a logind session: the member\'s own systemd and PipeWire run');
  assert.equal(unit.conflicts, ['getty@tty1.service']);
  const sway = s.environment.etc['hiboss/sway.conf'].text as string;
  assert.match(sway, /^workspace_layout tabbed$/m, 'every app one tab away, not hidden behind the browser');
  assert.match(sway, /^exec firefox file:\/\/\/etc\/hiboss\/services\.html$/m);
  assert.match(sway, /^exec pcmanfm '\/shared\/docs'$/m, 'the file manager opens the shared folder');
  assert.match(sway, /^exec \/etc\/hiboss\/desktop-watch$/m);
  assert.equal(s.services.pipewire, { enable: true, pulse: { enable: true }, alsa: { enable: true } });
  assert.equal(s.security.rtkit, { enable: true });
  assert.equal(s.services.cage ?? {}, {}, 'cage (one window at a time) is gone');
});

t('Mumble joins the configured server in the session', async () => {
  const all = await settingsOf(path.join(FIXTURES, 'full.json'));
  const withMumble = Object.values(all).filter((s: Json) => /exec mumble /.test(s.environment.etc['hiboss/sway.conf']?.text ?? ''));
  assert.ok(withMumble.length > 0, 'a fixture config with a Mumble client');
  for (const s of withMumble as Json[]) assert.match(s.environment.etc['hiboss/sway.conf'].text, /^exec mumble 'mumble:\/\/[^']+'$/m);
});

t('every wizard-producible config: desktop on → the restarted unit and sound; off → neither', async () => {
  const summary = (await nixEval(
    `{ dir }: let shaped = import (dir + "/../lib/shape-configs.nix") (import (dir + "/wizard-configs.nix")); in
      builtins.mapAttrs (name: e:
        let s = (import (dir + "/../lib/service-settings.nix") { } { inherit name; inherit (e) hiboss; }).settings; in
        { desktop = e.hiboss.desktop.enable;
          restart = s.systemd.services.hiboss-desktop.serviceConfig.Restart or null;
          pipewire = s.services.pipewire.pulse.enable or false;
          watch = s.environment.etc."hiboss/desktop-watch".text or null; })
        shaped`,
    { dir: path.join(REPO, 'nix', 'upstream') },
  )) as Record<string, { desktop: boolean; restart: string | null; pipewire: boolean; watch: string | null }>;
  const configs = Object.entries(summary);
  assert.ok(configs.length > 150, `${configs.length} configs`);
  assert.ok(configs.some(([, c]) => !c.desktop), 'some headless configs');
  for (const [name, c] of configs) {
    assert.is(c.restart, c.desktop ? 'always' : null, name);
    assert.is(c.pipewire, c.desktop, name);
  }
  // The watcher that ends the session after the last app: a shell script sh accepts.
  const watch = configs.find(([, c]) => c.watch !== null)![1].watch!;
  assert.match(watch, /^#!\/bin\/sh\n/);
  await execa('sh', ['-n'], { input: watch });
});

t.run();
