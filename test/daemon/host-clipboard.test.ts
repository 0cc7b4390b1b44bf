/**
 * The host's clipboard as `hiboss clip` reads and writes it (daemon/clipboard/host.ts),
 * with the real programs of each WM's session: wl-clipboard under a real sway,
 * xclip under a real i3 on Xvfb. What crosses into or out of a VM is in
 * e2e-clipboard.test.ts; here, only the host's side, for both WMs.
 */
import { execa } from 'execa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readHostClipboard, writeHostClipboard } from '../../daemon/clipboard/host.js';
import { clipText, MAX_CLIP_BYTES } from '../../api/clipboard.js';
import { bounded } from '../harness/bounded.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startWm, type RunningWm } from '../harness/wm.js';

const t = suite('the host clipboard: wl-clipboard (sway) and xclip (i3), for real');
const test = bounded(t, 60_000);
const text = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString('utf8'));

for (const kind of ['sway', 'i3'] as const) {
  let sandbox: Sandbox | undefined;
  let wm: RunningWm | undefined;
  test(`${kind}: text written is read back; an image is refused; a flood is cut one byte past the bound`, async () => {
    sandbox = makeSandbox(`hc${kind}`);
    try {
      wm = await startWm(kind, sandbox);
      await writeHostClipboard(kind, wm.env, 'two\nlines ✓');
      assert.is(text(await readHostClipboard(kind, wm.env)), 'two\nlines ✓');
      const big = 'z'.repeat(MAX_CLIP_BYTES + 5000);
      await writeHostClipboard(kind, wm.env, big);
      assert.is((await readHostClipboard(kind, wm.env))!.byteLength, MAX_CLIP_BYTES + 1, 'read no further than needed to refuse');
      // Something that is not text on the clipboard: an image (PNG's signature).
      const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);
      const [file, ...args] = kind === 'sway' ? ['wl-copy', '--type', 'image/png'] : ['xclip', '-selection', 'clipboard', '-in', '-target', 'image/png'];
      await execa(file!, args, { env: wm.env, extendEnv: false, input: png, stdout: 'ignore', stderr: 'ignore' });
      // wl-paste says there is no text; xclip's owner hands its bytes over whatever was asked: not UTF-8, refused.
      const image = await readHostClipboard(kind, wm.env);
      if (kind === 'sway') assert.is(image, null);
      else assert.equal(clipText(image!, 'X'), { ok: false, reason: 'X is not UTF-8 text' });
    } finally {
      await wm?.stop();
      sandbox.remove();
    }
  });
}

t.run();
