import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRAY_STATES } from '../electron/tray-state.ts';
import { PROJECT_ROOT, drawIcon, iconFiles } from '../scripts/make-icons.ts';
import { decodePng, encodePng } from '../scripts/png.ts';
import type { RgbaImage } from '../scripts/png.ts';

function pixel(image: RgbaImage, x: number, y: number): number[] {
  const offset = (y * image.width + x) * 4;
  return [...image.pixels.subarray(offset, offset + 4)];
}

describe('icons', () => {
  it('committed files match make-icons', () => {
    for (const { file, image } of iconFiles()) {
      const committed = decodePng(fs.readFileSync(path.join(PROJECT_ROOT, file)));
      const drawn = image();
      expect(committed.width, file).toBe(drawn.width);
      expect(committed.height, file).toBe(drawn.height);
      expect(Buffer.from(committed.pixels).equals(Buffer.from(drawn.pixels)), `${file} differs; run npm run icons`).toBe(true);
    }
  });

  it('each tray state has 1x and 2x files', () => {
    for (const state of TRAY_STATES) {
      const small = decodePng(fs.readFileSync(path.join(PROJECT_ROOT, 'build', 'tray', `tray-${state}.png`)));
      const large = decodePng(fs.readFileSync(path.join(PROJECT_ROOT, 'build', 'tray', `tray-${state}@2x.png`)));
      expect(small.width).toBe(16);
      expect(large.width).toBe(32);
    }
  });

  it('tray states look different', () => {
    const centres = TRAY_STATES.map((state) => {
      const image = drawIcon(state, 32);
      // A point on the badge outside every glyph: its colour names the state.
      return pixel(image, 16, 3).join(',');
    });
    expect(new Set(centres).size).toBe(TRAY_STATES.length);

    const glyphs = TRAY_STATES.map((state) => {
      const image = drawIcon(state, 32);
      let white = '';
      for (let i = 0; i < image.pixels.length; i += 4) white += image.pixels[i + 1]! > 240 && image.pixels[i + 3]! > 200 ? '1' : '0';
      return white;
    });
    expect(new Set(glyphs).size).toBe(TRAY_STATES.length);
  });

  it('corners are transparent', () => {
    const image = drawIcon('idle', 16);
    expect(pixel(image, 0, 0)[3]).toBe(0);
    expect(pixel(image, 15, 15)[3]).toBe(0);
  });

  it('png round-trips', () => {
    const image = drawIcon('attention', 16);
    const decoded = decodePng(encodePng(image));
    expect(Buffer.from(decoded.pixels).equals(Buffer.from(image.pixels))).toBe(true);
  });

  it('png encoder rejects a wrong pixel count', () => {
    expect(() => encodePng({ width: 2, height: 2, pixels: new Uint8Array(3) })).toThrow(/expected 16/);
  });
});
