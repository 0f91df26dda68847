import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintImage } from '../../host/data/fingerprint.ts';

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header claims `w`×`h` pixels; the decoder's pixel limit is checked on the header alone. */
function pngHeaderOnly(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (grey), no interlace
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', new Uint8Array(8)), chunk('IEND', new Uint8Array(0))]);
}

const dir = mkdtempSync(join(tmpdir(), 'plastisort-hostile-img-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('data split on hostile images', () => {
  it('names a PNG over the pixel limit as too large, not as "not an image"', async () => {
    writeFileSync(join(dir, 'huge.png'), pngHeaderOnly(20_000, 20_000));
    const r = await fingerprintImage(dir, 'huge.png', 64);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/too large \(over the decoder's limit of 268 megapixels\); downscale it/);
  });
});
