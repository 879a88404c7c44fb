/**
 * A minimal PNG encoder and decoder for the icons that make-icons.ts
 * draws: 8-bit RGBA, no interlacing, filter type 0 (None) on every row.
 * The decoder reads only what the encoder writes, which is enough for the
 * test that checks the committed icons against the generator.
 *
 * Layout (PNG specification, ISO/IEC 15948): the 8-byte signature, then
 * chunks of length, type, data and CRC-32 over type and data: IHDR, one
 * IDAT with the zlib-deflated rows (each row led by its filter byte), IEND.
 */
import zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const BIT_DEPTH = 8;
const COLOR_TYPE_RGBA = 6;
const BYTES_PER_PIXEL = 4;
const FILTER_NONE = 0;

/** Pixels in row order, four bytes (R, G, B, A) per pixel. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly pixels: Uint8Array;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

export function encodePng(image: RgbaImage): Buffer {
  const { width, height, pixels } = image;
  const rowBytes = width * BYTES_PER_PIXEL;
  if (pixels.length !== rowBytes * height) {
    throw new Error(`Invalid image: ${pixels.length} bytes of pixels for ${width}x${height} RGBA, expected ${rowBytes * height}.`);
  }

  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(BIT_DEPTH, 8);
  header.writeUInt8(COLOR_TYPE_RGBA, 9);
  // Bytes 10-12: compression 0 (deflate), filter method 0, no interlace.

  const rows = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const offset = y * (rowBytes + 1);
    rows[offset] = FILTER_NONE;
    rows.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), offset + 1);
  }

  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Decodes a PNG written by encodePng(); throws on any other layout. */
export function decodePng(file: Buffer): RgbaImage {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('Invalid PNG: the signature is missing.');

  let width = 0;
  let height = 0;
  const data: Buffer[] = [];
  for (let offset = 8; offset < file.length; ) {
    const length = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    const body = file.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== BIT_DEPTH || body[9] !== COLOR_TYPE_RGBA || body[12] !== 0) {
        throw new Error('Unsupported PNG: only 8-bit RGBA without interlacing is decoded.');
      }
    }
    if (type === 'IDAT') data.push(body);
    offset += 12 + length;
  }

  const rows = zlib.inflateSync(Buffer.concat(data));
  const rowBytes = width * BYTES_PER_PIXEL;
  const pixels = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const offset = y * (rowBytes + 1);
    if (rows[offset] !== FILTER_NONE) throw new Error(`Unsupported PNG: row ${y} uses filter ${rows[offset]}.`);
    pixels.set(rows.subarray(offset + 1, offset + 1 + rowBytes), y * rowBytes);
  }
  return { width, height, pixels };
}
