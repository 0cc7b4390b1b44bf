/**
 * Screen pixels for tests: grim's PPM (sway) and Xvfb's XWD framebuffer (i3,
 * `Xvfb -fbdir DIR` keeps DIR/Xvfb_screen0 current as X draws), decoded to RGB;
 * exact-colour counts over an area; and a small PNG writer for the README's
 * screenshots of Xvfb (grim writes sway's itself).
 */
import fs from 'node:fs';
import zlib from 'node:zlib';

export interface Image {
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel, row by row. */
  rgb: Buffer;
}

export interface Area {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A binary PPM (P6, maxval 255), as `grim -t ppm` writes it. */
export function readPpm(data: Buffer): Image {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(data.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a P6 PPM with maxval 255');
  const width = Number(header[1]);
  const height = Number(header[2]);
  return { width, height, rgb: data.subarray(header[0].length, header[0].length + width * height * 3) };
}

/** An XWD file (X Window Dump, ZPixmap, 24/32 bits a pixel), as Xvfb's -fbdir framebuffer. */
export function readXwd(data: Buffer): Image {
  const u32 = (i: number) => data.readUInt32BE(i * 4);
  const headerSize = u32(0);
  const [format, depth, width, height] = [u32(2), u32(3), u32(4), u32(5)];
  const byteOrder = u32(7);
  const bitsPerPixel = u32(11);
  const bytesPerLine = u32(12);
  const masks = [u32(14), u32(15), u32(16)] as const;
  const colormapEntries = u32(19);
  if (format !== 2 || depth !== 24 || bitsPerPixel !== 32) throw new Error(`unexpected XWD: format ${format}, depth ${depth}, ${bitsPerPixel} bpp`);
  const pixels = headerSize + colormapEntries * 12;
  const shift = (mask: number) => 31 - Math.clz32(mask & -mask);
  const shifts = masks.map(shift);
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = pixels + y * bytesPerLine + x * 4;
      const value = byteOrder === 0 ? data.readUInt32LE(at) : data.readUInt32BE(at);
      const out = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) rgb[out + c] = (value & masks[c]!) >>> shifts[c]!;
    }
  }
  return { width, height, rgb };
}

export function readXvfbScreen(fbdir: string): Image {
  return readXwd(fs.readFileSync(`${fbdir}/Xvfb_screen0`));
}

/** How many pixels in `area` (default: all) are exactly `hex`. */
export function countColor(image: Image, hex: string, area: Area = { x: 0, y: 0, width: image.width, height: image.height }): number {
  const n = parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  let count = 0;
  const x1 = Math.min(image.width, area.x + area.width);
  const y1 = Math.min(image.height, area.y + area.height);
  for (let y = Math.max(0, area.y); y < y1; y++) {
    for (let x = Math.max(0, area.x); x < x1; x++) {
      const i = (y * image.width + x) * 3;
      if (image.rgb[i] === r && image.rgb[i + 1] === g && image.rgb[i + 2] === b) count++;
    }
  }
  return count;
}

/** The colour of one pixel, as #rrggbb. */
export function pixelAt(image: Image, x: number, y: number): string {
  const i = (y * image.width + x) * 3;
  return `#${[image.rgb[i]!, image.rgb[i + 1]!, image.rgb[i + 2]!].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** A PNG of the image, shrunk by an integer `step` (every step-th pixel: flat UI colours stay exact). */
export function writePng(image: Image, file: string, step = 1): void {
  const width = Math.floor(image.width / step);
  const height = Math.floor(image.height / step);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    for (let x = 0; x < width; x++) image.rgb.copy(raw, y * (width * 3 + 1) + 1 + x * 3, (y * step * image.width + x * step) * 3, (y * step * image.width + x * step) * 3 + 3);
  }
  const chunk = (type: string, body: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type, 'latin1'), body])));
    return Buffer.concat([length, Buffer.from(type, 'latin1'), body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter, no interlace
  fs.writeFileSync(
    file,
    Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]),
  );
}
