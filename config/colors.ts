/**
 * A colour per network: one `#RRGGBB` per VM in config.json, shown on its
 * windows (title label, and on sway the focused window's frame), in the bar and
 * in the panel. The palette is what the wizard and the panel offer: colours far
 * apart in hue, each dark enough for white text (or light enough for black).
 */
import { z } from 'zod';

export const Color = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, 'a colour is #RRGGBB (six hex digits)')
  .transform((hex) => hex.toLowerCase());

export const PALETTE = [
  { name: 'red', hex: '#c62828' },
  { name: 'green', hex: '#2e7d32' },
  { name: 'blue', hex: '#1565c0' },
  { name: 'orange', hex: '#ef6c00' },
  { name: 'purple', hex: '#6a1b9a' },
  { name: 'teal', hex: '#00838f' },
  { name: 'pink', hex: '#ad1457' },
  { name: 'yellow', hex: '#f9a825' },
] as const;

function channels(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Black or white, whichever reads better on `hex` (WCAG relative luminance). */
export function textColorOn(hex: string): '#000000' | '#ffffff' {
  const [r, g, b] = channels(hex).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.179 ? '#000000' : '#ffffff';
}

/** The palette's name for a colour, or the colour itself. */
export function colorName(hex: string): string {
  return PALETTE.find((c) => c.hex === hex.toLowerCase())?.name ?? hex.toLowerCase();
}

/** The first palette colour no VM uses yet (the wizard's suggestion); the palette repeats when all are taken. */
export function freeColor(used: readonly (string | null | undefined)[]): string {
  const taken = new Set(used.filter((c): c is string => typeof c === 'string').map((c) => c.toLowerCase()));
  return (PALETTE.find((c) => !taken.has(c.hex)) ?? PALETTE[taken.size % PALETTE.length]!).hex;
}

/** The palette colour after `hex` (the panel's `c` key cycles through it; `null` ends the cycle: no colour). */
export function nextColor(hex: string | null | undefined): string | null {
  if (!hex) return PALETTE[0].hex;
  const index = PALETTE.findIndex((c) => c.hex === hex.toLowerCase());
  return index === PALETTE.length - 1 ? null : PALETTE[index + 1]!.hex;
}
