/**
 * The post-flash check identifies a build by its app's ELF SHA-256: read from esp_app_desc_t in the
 * image the flasher writes, reported by the running app in INFO, compared exactly. The version string
 * is not enough: without PROJECT_VER every build of a commit carries the same one.
 */
import { describe, expect, it } from 'vitest';
import { bootedBoard } from './booted-board.ts';
import { appImageElfSha256, appImageVersion } from '../../host/flash/app-image.ts';
import { verifyFlashedBoard } from '../../host/flash/verify.ts';
import { decodeInfo, encodeInfo, type InfoMessage } from '../../host/link/messages.ts';
import { PROTOCOL_VERSION } from '../../host/link/protocol.ts';

const MODEL_SHA = 'cd'.repeat(32);

/** An app image as esptool writes it: header, first segment header, then esp_app_desc_t. */
function appImage(version: string, elfSha: Uint8Array): Uint8Array {
  const img = new Uint8Array(32 + 256 + 64);
  img[0] = 0xe9;
  const dv = new DataView(img.buffer);
  dv.setUint32(32, 0xabcd5432, true);
  img.set(new TextEncoder().encode(version), 32 + 16);
  img.set(new TextEncoder().encode('plastisort_sorter'), 32 + 48);
  img.set(new TextEncoder().encode('v5.3.5'), 32 + 112);
  img.set(elfSha, 32 + 144);
  return img;
}

function info(over: Partial<InfoMessage>): InfoMessage {
  return {
    protocolVersion: PROTOCOL_VERSION, ready: true, bootId: 7, maxPayload: 163840, firmwareVersion: 'v1.0-3-gabc', modelSha256: MODEL_SHA,
    width: 2, height: 2, channels: 3, inputScale: 1, inputZeroPoint: 0, outputScale: 1 / 256, outputZeroPoint: -128,
    numClasses: 2, arenaUsedBytes: 0, status: '', labels: ['a', 'b'], ...over,
  };
}


describe('app identity: ELF SHA-256', () => {
  const flashed = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const flashedHex = Buffer.from(flashed).toString('hex');

  it('reads app_elf_sha256 at offset 144 of esp_app_desc_t in the image', () => {
    const img = appImage('v1.0-3-gabc', flashed);
    expect(appImageElfSha256(img)).toBe(flashedHex);
    expect(appImageVersion(img)).toBe('v1.0-3-gabc');
    expect(appImageElfSha256(appImage('x', new Uint8Array(32)))).toBeUndefined();
    const notAnImage = img.slice();
    notAnImage[0] = 0;
    expect(appImageElfSha256(notAnImage)).toBeUndefined();
  });

  it('carries the app hash in INFO when the firmware has one, and decodes older INFO without it', () => {
    expect(decodeInfo(encodeInfo(info({ appElfSha256: flashedHex }))).appElfSha256).toBe(flashedHex);
    expect(decodeInfo(encodeInfo(info({}))).appElfSha256).toBeUndefined();
    const extra = new Uint8Array([...encodeInfo(info({})), 1, 2, 3]);
    expect(() => decodeInfo(extra)).toThrow(/3 unexpected trailing bytes/);
  });

  it('accepts the board only when it reports exactly the flashed app', async () => {
    const ok = await verifyFlashedBoard(bootedBoard(info({ appElfSha256: flashedHex })), 115200, { bootMs: 0, appElfSha256: flashedHex });
    expect(ok.appElfSha256).toBe(flashedHex);
    // Same version string, another build: the old substring test passed this board.
    const other = Buffer.from(flashed.map((b) => b ^ 0xff)).toString('hex');
    await expect(
      verifyFlashedBoard(bootedBoard(info({ appElfSha256: other })), 115200, { bootMs: 0, appElfSha256: flashedHex }),
    ).rejects.toThrow(/runs app [0-9a-f]{16}… .*not the flashed one/);
    await expect(verifyFlashedBoard(bootedBoard(info({})), 115200, { bootMs: 0, appElfSha256: flashedHex })).rejects.toThrow(
      /does not report its app's ELF SHA-256/,
    );
  });
});
