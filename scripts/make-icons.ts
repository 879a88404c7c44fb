/**
 * Draws the tray icons and the installer icon and writes them as PNG:
 *
 *   build/icon.png                    512x512, for electron-builder, which
 *                                     converts it to .ico and .icns
 *   build/tray/tray-<state>.png       16x16
 *   build/tray/tray-<state>@2x.png    32x32, picked by Electron on HiDPI
 *
 * Each tray state has its own colour and its own glyph, so that people who
 * cannot tell red from green still tell the states apart. The glyphs are
 * an envelope (idle), an arrow (sending), an hourglass (throttled or
 * retrying) and an exclamation mark (needs attention).
 *
 *   node --import tsx scripts/make-icons.ts
 *
 * The output is committed; test/electron-icons.test.ts checks that it
 * matches what this script draws.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from './png.ts';
import type { RgbaImage } from './png.ts';
import { TRAY_STATES } from '../electron/tray-state.ts';
import type { TrayState } from '../electron/tray-state.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TRAY_ICON_SIZE_PX = 16;
export const APP_ICON_SIZE_PX = 512;
// Samples per pixel along each axis; 4 gives 16 samples, enough to smooth
// the edges of a 16-pixel icon.
const SUPERSAMPLING = 4;

type Rgb = readonly [number, number, number];
type Point = readonly [number, number];

const WHITE: Rgb = [255, 255, 255];
const STATE_COLOURS: Readonly<Record<TrayState, Rgb>> = {
  idle: [74, 111, 165],
  sending: [46, 139, 87],
  throttled: [214, 150, 0],
  attention: [198, 40, 40],
};

// Every shape is in unit coordinates: (0, 0) top left, (1, 1) bottom right.
const BADGE_RADIUS = 0.47;

function insideCircle(x: number, y: number, cx: number, cy: number, radius: number): boolean {
  return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
}

function insideRect(x: number, y: number, left: number, top: number, right: number, bottom: number): boolean {
  return x >= left && x <= right && y >= top && y <= bottom;
}

function insideTriangle(x: number, y: number, a: Point, b: Point, c: Point): boolean {
  const side = (p: Point, q: Point): number => (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1]);
  const d1 = side(a, b);
  const d2 = side(b, c);
  const d3 = side(c, a);
  const hasNegative = d1 < 0 || d2 < 0 || d3 < 0;
  const hasPositive = d1 > 0 || d2 > 0 || d3 > 0;
  return !(hasNegative && hasPositive);
}

function distanceToSegment(x: number, y: number, a: Point, b: Point): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const t = Math.max(0, Math.min(1, ((x - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - (a[0] + t * dx), y - (a[1] + t * dy));
}

/** Tells whether the point is on the white glyph of the state's icon. */
function insideGlyph(state: TrayState, x: number, y: number): boolean {
  switch (state) {
    case 'idle': {
      // A white envelope whose flap is a V in the badge's colour.
      const body = insideRect(x, y, 0.23, 0.31, 0.77, 0.69);
      const flap = Math.min(distanceToSegment(x, y, [0.23, 0.31], [0.5, 0.53]), distanceToSegment(x, y, [0.5, 0.53], [0.77, 0.31]));
      return body && flap > 0.05;
    }
    case 'sending':
      return insideRect(x, y, 0.2, 0.42, 0.5, 0.58) || insideTriangle(x, y, [0.46, 0.22], [0.46, 0.78], [0.8, 0.5]);
    case 'throttled':
      return (
        insideTriangle(x, y, [0.28, 0.22], [0.72, 0.22], [0.5, 0.5]) ||
        insideTriangle(x, y, [0.5, 0.5], [0.28, 0.78], [0.72, 0.78])
      );
    case 'attention':
      return insideRect(x, y, 0.42, 0.18, 0.58, 0.6) || insideCircle(x, y, 0.5, 0.75, 0.085);
  }
}

/** Draws one state's badge at the given size, with smoothed edges. */
export function drawIcon(state: TrayState, size: number): RgbaImage {
  const pixels = new Uint8Array(size * size * 4);
  const base = STATE_COLOURS[state];
  const samples = SUPERSAMPLING * SUPERSAMPLING;

  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let covered = 0;
      const sum = [0, 0, 0];
      for (let sy = 0; sy < SUPERSAMPLING; sy++) {
        for (let sx = 0; sx < SUPERSAMPLING; sx++) {
          const x = (px + (sx + 0.5) / SUPERSAMPLING) / size;
          const y = (py + (sy + 0.5) / SUPERSAMPLING) / size;
          if (!insideCircle(x, y, 0.5, 0.5, BADGE_RADIUS)) continue;
          const colour = insideGlyph(state, x, y) ? WHITE : base;
          covered++;
          sum[0]! += colour[0];
          sum[1]! += colour[1];
          sum[2]! += colour[2];
        }
      }
      const offset = (py * size + px) * 4;
      if (covered === 0) continue;
      pixels[offset] = Math.round(sum[0]! / covered);
      pixels[offset + 1] = Math.round(sum[1]! / covered);
      pixels[offset + 2] = Math.round(sum[2]! / covered);
      pixels[offset + 3] = Math.round((255 * covered) / samples);
    }
  }
  return { width: size, height: size, pixels };
}

/** Lists every icon file this script writes, relative to the project root. */
export function iconFiles(): { file: string; image: () => RgbaImage }[] {
  const files = [{ file: 'build/icon.png', image: () => drawIcon('idle', APP_ICON_SIZE_PX) }];
  for (const state of TRAY_STATES) {
    files.push({ file: `build/tray/tray-${state}.png`, image: () => drawIcon(state, TRAY_ICON_SIZE_PX) });
    files.push({ file: `build/tray/tray-${state}@2x.png`, image: () => drawIcon(state, TRAY_ICON_SIZE_PX * 2) });
  }
  return files;
}

function writeIcons(): void {
  for (const { file, image } of iconFiles()) {
    const target = path.join(PROJECT_ROOT, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, encodePng(image()));
    process.stdout.write(`wrote ${file}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeIcons();
}
