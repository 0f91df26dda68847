import { mkdtemp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { choosePort, listSysfsPorts, resetStrategyFor } from '../../host/flash/ports.ts';
import { SlipDecoder, slipEncode } from '../../host/flash/slip.ts';
import { buildPartitionTable, parsePartitionTable } from '../../host/flash/partition-table.ts';
import { bytes } from '../../testing/flash/build-fixture.ts';

describe('SLIP', () => {
  it('round-trips packets full of the escape bytes, across any chunking, ignoring text between packets', () => {
    const packets = [Uint8Array.from([0xc0, 0xdb, 0x01, 0xdb, 0xdc, 0xc0]), bytes(300, 5), Uint8Array.from([0xdd])];
    const stream = Buffer.concat([Buffer.from('boot log\r\n'), ...packets.map((p) => Buffer.from(slipEncode(p)))]);
    for (const chunk of [1, 3, 7, stream.length]) {
      const d = new SlipDecoder();
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += chunk) out.push(...d.push(stream.subarray(i, i + chunk)));
      expect(out.map((p) => Buffer.from(p).toString('hex'))).toEqual(packets.map((p) => Buffer.from(p).toString('hex')));
    }
  });

  it('drops a packet with an invalid escape and keeps the next one', () => {
    const d = new SlipDecoder();
    const bad = Uint8Array.from([0xc0, 0x01, 0xdb, 0x42, 0xc0]);
    const good = slipEncode(Uint8Array.from([9, 8, 7]));
    expect(d.push(Buffer.concat([bad, good]))).toEqual([Uint8Array.from([9, 8, 7])]);
  });
});

describe('partition table', () => {
  it('parses what it builds, and names the file when the bytes are not a table', () => {
    const entries = [
      { label: 'factory', type: 0, subtype: 0, offset: 0x10000, size: 0x300000, flags: 0 },
      { label: 'model', type: 1, subtype: 0x40, offset: 0x310000, size: 0x400000, flags: 0 },
    ];
    expect(parsePartitionTable(buildPartitionTable(entries), 't.bin')).toEqual(entries);
    expect(() => parsePartitionTable(bytes(64, 1), 'junk.bin')).toThrow(/junk\.bin: not an ESP-IDF partition table/);
  });
});

describe('port detection', () => {
  it('prefers the Espressif USB device and uses the USB-JTAG reset for it', () => {
    const p = choosePort([
      { path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60' },
      { path: '/dev/ttyACM0', vendorId: '303a', productId: '1001' },
    ]);
    expect(p.path).toBe('/dev/ttyACM0');
    expect(resetStrategyFor(p)).toBe('usb-jtag');
    expect(resetStrategyFor({ path: '/dev/ttyUSB0', vendorId: '10c4' })).toBe('classic');
  });

  it('asks for --port when there is no board or more than one', () => {
    expect(() => choosePort([{ path: '/dev/ttyS0' }])).toThrow(/no ESP32-S3 board found.*--port/);
    expect(() =>
      choosePort([
        { path: '/dev/ttyUSB0', vendorId: '1a86' },
        { path: '/dev/ttyUSB1', vendorId: '0403' },
      ]),
    ).toThrow(/2 boards found \(\/dev\/ttyUSB0, \/dev\/ttyUSB1\); choose one with --port/);
  });

  it('reads USB vendor and product ids from sysfs without udev', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sys-'));
    const usbDev = join(root, 'devices/usb1/1-1');
    await mkdir(join(usbDev, '1-1:1.0/tty'), { recursive: true });
    await writeFile(join(usbDev, 'idVendor'), '303a\n');
    await writeFile(join(usbDev, 'idProduct'), '1001\n');
    await mkdir(join(root, 'class/tty/ttyACM0'), { recursive: true });
    await symlink(join(usbDev, '1-1:1.0'), join(root, 'class/tty/ttyACM0/device'));
    await mkdir(join(root, 'class/tty/ttyS0'), { recursive: true });
    expect(listSysfsPorts(join(root, 'class/tty'))).toEqual([{ path: '/dev/ttyACM0', vendorId: '303a', productId: '1001' }]);
  });
});

describe('model partition image', () => {
  it('matches the golden header shared with the firmware tests', async () => {
    const { readFile } = await import('node:fs/promises');
    const { buildModelPartitionImage, MODEL_HEADER_SIZE } = await import('../../host/flash/model-partition.ts');
    const text = await readFile(join(import.meta.dirname, '../../firmware/components/sorter_core/test/model_partition_vectors.txt'), 'utf8');
    const field = (name: string) => Buffer.from(new RegExp(`^${name} ([0-9a-f]+)$`, 'm').exec(text)![1]!, 'hex');
    const model = field('model');
    const image = buildModelPartitionImage(new Uint8Array(model));
    expect(Buffer.from(image.subarray(0, MODEL_HEADER_SIZE)).toString('hex')).toBe(field('header').toString('hex'));
    expect(Buffer.from(image.subarray(MODEL_HEADER_SIZE)).equals(model)).toBe(true);
  });

  it('refuses bytes that are not a TFLite model', async () => {
    const { buildModelPartitionImage } = await import('../../host/flash/model-partition.ts');
    expect(() => buildModelPartitionImage(bytes(100, 2), 'photo.jpg')).toThrow(/photo\.jpg: not a TFLite model/);
  });
});
