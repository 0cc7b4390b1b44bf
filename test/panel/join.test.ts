/**
 * `hiboss join`: the nix:// mapping, the review text, hostile URIs refused with
 * a specific reason, and the real CLI (bin/hiboss) writing the daemon config
 * only when told to.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig, writeFileAtomic } from '../../config/file.js';
import { writeNetwork } from '../../networks/index.js';
import { buildReview, firstFreeWorkspace, MAX_URI_LENGTH, parseJoinUri, quoteUntrusted } from '../../panel/join.js';
import { start } from '../harness/processes.js';
import { makeSandbox } from '../harness/sandbox.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HIBOSS = path.join(REPO, 'bin', 'hiboss');

const parse = suite('join: parsing');

parse('nix:// links and flake references map to flake references', () => {
  const cases: Array<[string, string, string]> = [
    ['nix://github/acme/net#acme', 'github:acme/net#acme', 'github'],
    ['nix://GitHub/acme/net/v2#acme', 'github:acme/net/v2#acme', 'github'],
    ['nix://gitlab/fam/net#home', 'gitlab:fam/net#home', 'gitlab'],
    ['nix://sourcehut/~fam/net#home', 'sourcehut:~fam/net#home', 'sourcehut'],
    ['nix://git+https://git.acme.example/net#acme', 'git+https://git.acme.example/net#acme', 'git'],
    ['nix://git+https://git.acme.example/net?ref=main#acme', 'git+https://git.acme.example/net?ref=main#acme', 'git'],
    ['nix://git+ssh://git@git.acme.example/net#acme', 'git+ssh://git@git.acme.example/net#acme', 'git'],
    ['nix://https://acme.example/net.tar.gz#acme', 'https://acme.example/net.tar.gz#acme', 'tarball'],
    ['github:acme/net#acme', 'github:acme/net#acme', 'github'],
    ['git+https://git.acme.example/net#acme', 'git+https://git.acme.example/net#acme', 'git'],
    ['path:/home/me/nets/acme#acme', 'path:/home/me/nets/acme#acme', 'local'],
  ];
  for (const [uri, flake, kind] of cases) {
    const parsed = parseJoinUri(uri);
    assert.ok(parsed.ok, `${uri}: ${parsed.ok ? '' : parsed.message}`);
    if (!parsed.ok) continue;
    assert.is(parsed.flake, flake, uri);
    assert.is(parsed.source.kind, kind, uri);
  }
  const named = parseJoinUri('nix://github/acme/net', 'office');
  assert.ok(named.ok && named.flake === 'github:acme/net#office' && named.configuration === 'office');
});

parse('ipfs- and ygg- are parsed and explained as not yet supported', () => {
  const ipfs = parseJoinUri('nix://ipfs-bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/net#acme');
  assert.equal(
    ipfs.ok ? null : [ipfs.reason, ipfs.ok === false && ipfs.reason === 'unsupported' ? ipfs.what : ''],
    ['unsupported', 'ipfs'],
  );
  assert.ok(!ipfs.ok && ipfs.message.startsWith('not yet supported: '));
  assert.match(!ipfs.ok ? ipfs.message : '', /names a flake on IPFS \(CID "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"\)/);
  const ygg = parseJoinUri('nix://ygg-200:1234::1/net#acme');
  assert.ok(!ygg.ok && ygg.reason === 'unsupported' && ygg.what === 'yggdrasil');
  assert.match(!ygg.ok ? ygg.message : '', /served over Yggdrasil \(address "200:1234::1"\)/);
});

parse('hostile URIs get a specific refusal', () => {
  const cases: Array<[string, string]> = [
    ['', 'refused: the URI is empty'],
    ['nix://github/acme/net#a' + 'a'.repeat(MAX_URI_LENGTH), `refused: the URI is ${MAX_URI_LENGTH + 23} characters long; at most ${MAX_URI_LENGTH} are accepted`],
    ['nix://github/acme/net#acme\n', 'refused: the URI contains a control character (U+000A) at position 27'],
    ['nix://github/acme/\x1b]0;pwned\x07net#acme', 'refused: the URI contains a control character (U+001B) at position 19'],
    ['nix://git+https://host/p?ref=%0a%1b%07#x', 'refused: the URI contains a percent-encoded control character (%0A) at position 30'],
    ['nix://github/acme/net%7f#acme', 'refused: the URI contains a percent-encoded control character (%7F) at position 22'],
    ['nix://github/acme/net#ac%9bme', 'refused: the URI contains a percent-encoded control character (%9B) at position 25'],
    ['nix://github/acme/n\u0435t#acme', 'refused: the URI contains non-ASCII characters (they can disguise a host name)'],
    ['--option=foo', 'refused: "--option=foo" starts with "-" and would read as an option'],
    ['nix://github/acme/net#acme;rm -rf ~', 'refused: the URI contains ";" at position 27, which a shell would read specially'],
    ['github:acme/net#$(reboot)', 'refused: the URI contains "$" at position 17, which a shell would read specially'],
    ['nix://git+https://x.example/`id`#a', 'refused: the URI contains "`" at position 29, which a shell would read specially'],
    ['nix://github/acme/net#acme&x=1', 'refused: the URI contains "&" at position 27, which a shell would read specially'],
    ['nix://github/acme net#acme', 'refused: the URI contains a space at position 18, which a shell would read specially'],
    ['ftp://acme.example/net#acme', 'refused: unknown scheme "ftp:"; expected nix://…, github:…, gitlab:…, sourcehut:…, git+https://…, git+ssh://…, https://… or path:/…'],
    ['nix://ftp/acme/net#acme', 'refused: unknown nix:// source "ftp"; supported are nix://github/…, nix://gitlab/…, nix://sourcehut/…, nix://git+https://…, nix://git+ssh://…, nix://https://… (ipfs- and ygg- are not yet supported)'],
    ['nix://path:/etc#acme', 'refused: a nix:// link may not name a local path (path:, file:, git+file:); run hiboss join with the flake reference itself'],
    ['nix:github/acme/net#acme', 'refused: a nix: URI must start with nix://'],
    ['nix://github/../../etc#acme', 'refused: nix://github/ must be followed by OWNER/REPO (got "../../etc")'],
    ['path:relative/dir#acme', 'refused: a path: flake reference must be an absolute path without ".."'],
    ['acme', 'refused: "acme" has no scheme; expected nix://…, github:…, gitlab:…, sourcehut:…, git+https://…, git+ssh://…, https://… or path:/…'],
    ['nix://github/acme/net', 'refused: the URI names no VM: add "#NAME" (the network\'s configuration) or pass --name NAME'],
    ['nix://github/acme/net#a/b', 'refused: "a/b" (after "#") must name one nixosConfigurations entry: 1–64 of A–Z a–z 0–9 _ -'],
    ['nix://github/acme/net#' + 'x'.repeat(40), `refused: "${'x'.repeat(40)}" cannot be a VM name (1–32 of A–Z a–z 0–9 _ -)`],
  ];
  for (const [uri, message] of cases) {
    const parsed = parseJoinUri(uri);
    assert.ok(!parsed.ok && parsed.reason === 'refused', `refused: ${JSON.stringify(uri)}`);
    assert.is(parsed.ok ? '' : parsed.message, message, JSON.stringify(uri));
  }
  assert.is(quoteUntrusted('a\x1bb"'), '"a\\u{1b}b\\u{22}"');
});

parse('first free workspace', () => {
  assert.is(firstFreeWorkspace([]), '1');
  assert.is(firstFreeWorkspace(['1', '2', 'mail', '4']), '3');
});

const review = suite('join: review');

review('remote flake: says what is fetched and that configs.json cannot be read yet', () => {
  const join = parseJoinUri('nix://github/acme/net#acme');
  assert.ok(join.ok);
  const { text, blockers } = buildReview({
    join, vmName: 'acme', workspace: '3', workspaceChosen: false, configFile: '/home/me/.config/hiboss/config.json',
    local: { kind: 'unreadable', why: 'configs.json is not locally readable; nix fetches the flake when the VM is first built' },
  });
  assert.equal(blockers, []);
  assert.fixture(text, [
    'hiboss join: review (nothing has been fetched or built)',
    '',
    '  URI            nix://github/acme/net#acme',
    '  flake          github:acme/net#acme',
    '  source         GitHub repository acme/net (fetched by nix over HTTPS)',
    '  configuration  acme',
    "  builds         hiboss's own VM image of github:acme/net#nixosConfigurations.acme (kernel, initrd, closure: data for your QEMU; nothing of the flake runs on this machine)",
    '  VM name        acme',
    '  workspace      3 (the first free one; --workspace WS to choose)',
    '  network layer  unknown: configs.json is not locally readable; nix fetches the flake when the VM is first built',
    '  applications   unknown (nix fetches the flake when the VM is first built)',
    '  inputs         not read (nothing fetched)',
    '  build cost     not estimated (nothing fetched)',
    '',
    'Joining adds VM "acme" to /home/me/.config/hiboss/config.json.',
    'Nothing is built now: the daemon builds the flake the first time you go to workspace 3.',
  ].join('\n'));
});

review('with the flake\'s lock file read: its revision and each input at its locked revision, quoted', () => {
  const join = parseJoinUri('nix://github/acme/net#acme');
  assert.ok(join.ok);
  const { text } = buildReview({
    join, vmName: 'acme', workspace: '3', workspaceChosen: true, configFile: '/c.json',
    local: { kind: 'unreadable', why: 'remote' },
    facts: {
      kind: 'read', url: 'github:acme/net/0123', revision: '0123456789abcdef0123456789abcdef01234567',
      inputs: [
        { name: 'nixpkgs', source: 'github:NixOS/nixpkgs', revision: '5e4fbfb6b3de1aa2872b76d49fafc942626e2add' },
        { name: 'evil\x1b[2J', source: 'github:x/y', revision: 'abc' },
      ],
    },
  });
  assert.match(text, /^hiboss join: review \(the flake was fetched to read its lock file; nothing has been built\)\n/);
  assert.ok(text.includes('  revision       "0123456789abcdef0123456789abcdef01234567"\n'), text);
  assert.ok(text.includes('  inputs         "nixpkgs" "github:NixOS/nixpkgs" @ "5e4fbfb6b3de1aa2872b76d49fafc942626e2add"\n'), text);
  assert.ok(text.includes('                 "evil\\u{1b}[2J" "github:x/y" @ "abc"\n'), text);
  assert.not.ok(text.includes('\x1b'), 'no escape sequence reaches the terminal');
});

review('local flake: network layer and applications from configs.json; blockers listed', async () => {
  const sandbox = makeSandbox('join');
  try {
    const dir = path.join(sandbox.dataHome, 'nets');
    const written = await writeNetwork({
      dir, name: 'fam',
      configs: { fam: { networkLayer: 'tinc', tinc: { address: '10.78.0.2/24' }, applications: { syncthing: { enable: true, sharedFolders: ['/shared/photos'] }, mumbleServer: { enable: true } } } },
    });
    const join = parseJoinUri(`path:${written.path}#fam`);
    assert.ok(join.ok);
    const configs = JSON.parse(fs.readFileSync(written.configsPath, 'utf8'));
    const { parseConfigs } = await import('../../networks/index.js');
    const ok = buildReview({
      join, vmName: 'fam', workspace: '7', workspaceChosen: true, configFile: '/c.json',
      local: { kind: 'read', file: written.configsPath, configs: parseConfigs(JSON.stringify(configs)) },
    });
    assert.equal(ok.blockers, []);
    assert.ok(ok.text.includes(`  source         local directory ${written.path}\n`));
    assert.ok(ok.text.includes('  workspace      7\n'));
    assert.ok(ok.text.includes('  network layer  tinc\n  admin mode     local\n  applications   syncthing (shared folders: /shared/photos); mumble server\n'), ok.text);

    const blocked = buildReview({
      join, vmName: 'fam', workspace: '7', workspaceChosen: true, configFile: '/c.json',
      local: { kind: 'invalid', file: written.configsPath, problems: ['fam.networkLayer: expected one of yggdrasil, wireguard, zerotier, tinc'] },
      existing: { flake: 'github:other/net#fam' }, workspaceOwner: 'work',
    });
    assert.equal(blocked.blockers, [
      `${written.configsPath} is not valid: fam.networkLayer: expected one of yggdrasil, wireguard, zerotier, tinc`,
      'a VM named "fam" is already in /c.json (flake github:other/net#fam); pass --name to choose another name',
      'workspace "7" is already bound to VM "work"',
    ]);
    assert.match(blocked.text, /\nCannot join:\n {2}- /);
  } finally {
    sandbox.remove();
  }
});

const cli = suite('join: the CLI');

async function hiboss(env: NodeJS.ProcessEnv, args: string[]) {
  const proc = start(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' });
  const result = await proc.child;
  return { code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

cli('--print-review writes nothing; --yes adds the VM; hostile URIs are refused with exit 2', async () => {
  const sandbox = makeSandbox('joincli');
  try {
    const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
    writeFileAtomic(configFile, JSON.stringify({ vms: { work: { workspace: '1', flake: 'github:me/work#work' } }, policy: { pauseAfterMs: 900 } }));
    const before = fs.readFileSync(configFile, 'utf8');

    const printed = await hiboss(sandbox.env, ['join', '--print-review', 'nix://github/acme/net#acme']);
    assert.is(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^hiboss join: review \(nothing has been fetched or built\)\n/);
    assert.match(printed.stdout, /\n {2}workspace {6}2 \(the first free one; --workspace WS to choose\)\n/);
    assert.is(fs.readFileSync(configFile, 'utf8'), before);

    for (const [uri, code, message] of [
      ['nix://github/acme/net#acme;reboot', 2, 'contains ";" at position 27'],
      ['-rf', 2, 'starts with "-"'],
      ['nix://github/acme/net#acme\x1b[2J', 2, 'control character (U+001B)'],
      ['nix://git+https://host/p?ref=%0a%1b%07#x', 2, 'percent-encoded control character (%0A)'],
      ['gopher://acme/net#acme', 2, 'unknown scheme "gopher:"'],
      ['nix://ipfs-bafy/net#acme', 4, 'is not a CID'],
    ] as const) {
      // "--" so that "-rf" reaches join as the URI (the refusal under test), not as a flag.
      const refused = await hiboss(sandbox.env, ['join', '--yes', '--', uri]);
      assert.is(refused.code, code, `${JSON.stringify(uri)}: ${refused.stderr}`);
      assert.ok(refused.stderr.includes(message), `${JSON.stringify(uri)}: ${refused.stderr}`);
      assert.ok(refused.stderr.includes('Nothing was written.'));
      assert.not.ok(refused.stderr.includes('\x1b'), 'no escape sequence reaches the terminal');
      assert.is(fs.readFileSync(configFile, 'utf8'), before);
    }

    const noTty = await hiboss(sandbox.env, ['join', 'nix://github/acme/net#acme']);
    assert.is(noTty.code, 1);
    assert.match(noTty.stderr, /stdin is not a terminal; pass --yes/);
    assert.is(fs.readFileSync(configFile, 'utf8'), before);

    // NEL (U+0085) is a control character like newline, ESC, BEL and DEL.
    for (const workspace of ['2\u0085', '2\n', '\u009b2J']) {
      const refused = await hiboss(sandbox.env, ['join', '--yes', '--workspace', workspace, 'nix://github/acme/net#acme']);
      assert.is(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /^hiboss join: --workspace contains a control character \(U\+00(85|0A|9B)\) at position \d\n?$/, JSON.stringify(refused.stderr));
      assert.is(fs.readFileSync(configFile, 'utf8'), before);
    }

    const taken = await hiboss(sandbox.env, ['join', '--yes', '--workspace', '1', 'nix://github/acme/net#acme']);
    assert.is(taken.code, 1);
    assert.match(taken.stdout, /workspace "1" is already bound to VM "work"/);

    const joined = await hiboss(sandbox.env, ['join', '--yes', 'nix://github/acme/net#acme']);
    assert.is(joined.code, 0, joined.stderr);
    assert.match(joined.stdout, /Added VM "acme" on workspace 2 to /);
    assert.match(joined.stdout, /The daemon is not running; it reads the config when it starts/);
    assert.equal(readConfig(configFile).vms.acme, { workspace: '2', flake: 'github:acme/net#acme', restart: 'on-failure' });
    // Only its own entry changed: no policy or VM defaults written out, the other VM as it was.
    assert.equal(JSON.parse(fs.readFileSync(configFile, 'utf8')), { ...JSON.parse(before), vms: { ...JSON.parse(before).vms, acme: { workspace: '2', flake: 'github:acme/net#acme' } } });

    const again = await hiboss(sandbox.env, ['join', '--yes', 'nix://github/acme/net#acme']);
    assert.is(again.code, 1);
    assert.match(again.stdout, /VM "acme" is already in .* with this flake: nothing to do/);
  } finally {
    sandbox.remove();
  }
});

cli('the desktop file registers x-scheme-handler/nix and hands the review to a terminal hiboss finds', () => {
  const entry = fs.readFileSync(path.join(REPO, 'panel', 'hiboss-join.desktop'), 'utf8');
  const keys = new Map(entry.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => l.split(/=(.*)/s, 2) as [string, string]));
  assert.is(keys.get('MimeType'), 'x-scheme-handler/nix;');
  assert.is(keys.get('Exec'), 'hiboss join --desktop %u');
  assert.is(keys.get('Terminal'), 'false');
  assert.is(keys.get('Type'), 'Application');
});

parse.run();
review.run();
cli.run();
