/**
 * The ESP-IDF project cannot be built here (no ESP-IDF). These checks catch what would break
 * `idf.py set-target esp32s3 build` or the boot-time model check without it: missing files, Kconfig
 * symbols used but never defined, a partition table that overlaps or does not fit the flash, the
 * model partition's subtype disagreeing with the firmware and the flasher, and C++ errors in
 * firmware/main/*.cc (syntax-checked against declaration-only ESP-IDF stand-ins).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportModel } from '../../host/export/export.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { int8Classifier } from './fixtures.ts';

const root = resolve(import.meta.dirname, '../..');
const fw = join(root, 'firmware');
const read = (p: string) => readFileSync(join(fw, p), 'utf8');

describe('ESP-IDF project files', () => {
  it('has every file the build needs, and the sources main/CMakeLists.txt lists', () => {
    for (const f of [
      'CMakeLists.txt',
      'sdkconfig.defaults',
      'sdkconfig.defaults.esp32s3',
      'partitions.csv',
      'main/CMakeLists.txt',
      'main/idf_component.yml',
      'main/Kconfig.projbuild',
      'main/cmake/embed_model.cmake',
      'components/sorter_core/CMakeLists.txt',
      'components/sorter_link/CMakeLists.txt',
    ]) {
      expect(existsSync(join(fw, f)), f).toBe(true);
    }
    const cmake = read('main/CMakeLists.txt');
    const listed = [...cmake.matchAll(/"([a-z_]+\.cc)"/g)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(3);
    for (const src of listed) expect(existsSync(join(fw, 'main', src)), src).toBe(true);
    const onDisk = readdirSync(join(fw, 'main')).filter((f) => f.endsWith('.cc'));
    expect(onDisk.sort()).toEqual([...listed].sort());
    for (const component of ['sorter_core', 'sorter_link']) {
      const dir = join(fw, 'components', component);
      const cmakeText = read(`components/${component}/CMakeLists.txt`);
      const sources = [...cmakeText.matchAll(/"(src\/[a-z_0-9]+\.cc)"/g)].map((m) => m[1]!);
      // One source list serves both builds, so it must name every file in src/ and nothing else.
      expect(sources.sort(), component).toEqual(readdirSync(join(dir, 'src')).map((f) => `src/${f}`).sort());
      expect(cmakeText, component).toMatch(/if\(ESP_PLATFORM\)\s+idf_component_register\(/);
      expect(cmakeText, component).toMatch(/else\(\)[\s\S]*add_library\(\w+ STATIC/);
      expect(existsSync(join(dir, 'host.cmake')), `${component}/host.cmake`).toBe(false);
    }
    // The host-only engine stays out of components/, which ESP-IDF scans for the firmware build.
    expect(readdirSync(join(fw, 'components')).sort()).toEqual(['sorter_core', 'sorter_link']);
    const manifest = read('main/idf_component.yml');
    expect(manifest).toMatch(/espressif\/esp-tflite-micro:/);
    expect(manifest).toMatch(/espressif\/esp32-camera:/);
  });

  it('defines in Kconfig every CONFIG_PLASTISORT_* the sources and CMake use', () => {
    const kconfig = read('main/Kconfig.projbuild');
    const defined = new Set([...kconfig.matchAll(/^\s*(?:config|choice)\s+(PLASTISORT_\w+)/gm)].map((m) => m[1]));
    const used = new Set<string>();
    const files = [...readdirSync(join(fw, 'main')).filter((f) => /\.(cc|h|txt)$/.test(f)).map((f) => `main/${f}`)];
    for (const f of files) for (const m of read(f).matchAll(/CONFIG_(PLASTISORT_\w+)/g)) used.add(m[1]!);
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((u) => !defined.has(u));
    expect(missing).toEqual([]);
  });

  it('sets the ESP32-S3 essentials in sdkconfig defaults', () => {
    const all = read('sdkconfig.defaults') + read('sdkconfig.defaults.esp32s3');
    for (const line of [
      'CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_240=y',
      'CONFIG_SPIRAM=y',
      'CONFIG_SPIRAM_MODE_OCT=y',
      'CONFIG_ESPTOOLPY_FLASHSIZE_8MB=y',
      'CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG=y',
      'CONFIG_PARTITION_TABLE_CUSTOM=y',
      'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"',
    ]) {
      expect(all).toContain(line);
    }
  });

  it('has a partition table that fits 8 MB, with a model partition the firmware and flasher agree on', () => {
    const rows = read('partitions.csv')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(',').map((c) => c.trim()));
    const parts = rows.map(([name, type, subtype, offset, size]) => ({
      name: name!,
      type: type!,
      subtype: subtype!,
      offset: Number(offset),
      size: Number(size),
    }));
    let end = 0x9000;
    for (const p of parts) {
      expect(p.offset, p.name).toBeGreaterThanOrEqual(end);
      if (p.type === 'app') expect(p.offset % 0x10000, `${p.name} must be 64 KB aligned`).toBe(0);
      else expect(p.offset % 0x1000, `${p.name} must be 4 KB aligned`).toBe(0);
      end = p.offset + p.size;
    }
    expect(end).toBeLessThanOrEqual(8 * 1024 * 1024);
    const app = parts.find((p) => p.type === 'app')!;
    const model = parts.find((p) => p.name === 'model')!;
    expect(model.type).toBe('data');
    expect(model.size).toBeGreaterThanOrEqual(3.5 * 1024 * 1024);
    expect(app.size).toBeGreaterThanOrEqual(3.5 * 1024 * 1024);
    const header = readFileSync(join(fw, 'components/sorter_core/include/sorter/model_partition.h'), 'utf8');
    const subtype = /kModelPartitionSubtype = (0x[0-9a-fA-F]+)/.exec(header)![1]!;
    expect(Number(model.subtype)).toBe(Number(subtype));
    const flasher = readFileSync(join(root, 'host/flash/partition-table.ts'), 'utf8');
    expect(flasher).toContain(`MODEL_PARTITION_LABEL = '${model.name}'`);
  });
});

/** Every ESP-IDF minor release line the stand-ins model; the manifest must admit a subset of it. */
const IDF_RELEASES = ['5.0', '5.1', '5.2', '5.3', '5.4', '5.5', '6.0', '6.1'] as const;
const cmp = (a: number[], b: number[]) => a[0]! - b[0]! || (a[1] ?? 0) - (b[1] ?? 0) || (a[2] ?? 0) - (b[2] ?? 0);
const parts = (v: string) => v.split('.').map(Number);

/** The component manager's comma-separated range (">=5.1,<6.1"): does `version` satisfy it? */
function inRange(range: string, version: string): boolean {
  return range.split(',').every((clause) => {
    const m = /^\s*(>=|<=|>|<|==)?\s*([\d.]+)\s*$/.exec(clause);
    if (!m) throw new Error(`unsupported range clause "${clause}"`);
    const c = cmp(parts(version), parts(m[2]!));
    return { '>=': c >= 0, '<=': c <= 0, '>': c > 0, '<': c < 0, '==': c === 0 }[m[1] ?? '==']!;
  });
}

function manifestRange(name: string): string {
  const m = new RegExp(`^\\s*${name.replace('/', '\\/')}:\\s*"([^"]+)"`, 'm').exec(read('main/idf_component.yml'));
  expect(m, name).not.toBeNull();
  return m![1]!;
}

/** The ESP-IDF versions the firmware declares it supports, as [major, minor]. */
function supportedIdfVersions(): [number, number][] {
  return IDF_RELEASES.filter((v) => inRange(manifestRange('idf'), v)).map((v) => parts(v) as [number, number]);
}

const hasCmake = spawnSync('cmake', ['--version']).status === 0;
describe('idf_component.yml and the components main requires', () => {
  it('admits ESP-IDF 5.1 to 6.0, and esp-tflite-micro only from 1.3.4 (1.3.1-1.3.3 overrun in conv Init)', () => {
    expect(supportedIdfVersions().map((v) => v.join('.'))).toEqual(['5.1', '5.2', '5.3', '5.4', '5.5', '6.0']);
    const tflm = manifestRange('espressif/esp-tflite-micro');
    for (const bad of ['1.3.1', '1.3.2', '1.3.3']) expect(inRange(tflm, bad), bad).toBe(false);
    for (const good of ['1.3.4', '1.3.8']) expect(inRange(tflm, good), good).toBe(true);
    const camera = manifestRange('espressif/esp32-camera');
    for (const good of ['2.0.10', '2.1.5']) expect(inRange(camera, good), good).toBe(true);
  });

  it.skipIf(!hasCmake)('requires esp_psram on every version, and the split driver components from 5.3', () => {
    const work = mkdtempSync(join(tmpdir(), 'plastisort-req-'));
    const script = join(work, 'print.cmake');
    writeFileSync(script, `include(${join(fw, 'main/cmake/idf_requires.cmake')})\nmessage("\${MAIN_PRIV_REQUIRES}")\n`);
    expect(read('main/CMakeLists.txt')).toMatch(/PRIV_REQUIRES \$\{MAIN_PRIV_REQUIRES\}/);
    for (const [major, minor] of supportedIdfVersions()) {
      const r = spawnSync('cmake', [`-DIDF_VERSION_MAJOR=${major}`, `-DIDF_VERSION_MINOR=${minor}`, '-P', script], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const reqs = r.stderr.trim().split(';');
      expect(reqs, `${major}.${minor}`).toContain('esp_psram');
      const split = major > 5 || minor >= 3;
      for (const c of ['esp_driver_gpio', 'esp_driver_ledc', 'esp_driver_usb_serial_jtag']) {
        expect(reqs.includes(c), `${major}.${minor} ${c}`).toBe(split);
      }
      expect(reqs.includes('driver'), `${major}.${minor} driver`).toBe(!split);
    }
  });
});

const hasGxx = spawnSync('g++', ['--version']).status === 0;
describe.skipIf(!hasGxx)('firmware/main sources', () => {
  if (!hasGxx) console.warn('skipping the syntax check of firmware/main: g++ not found');

  it('pass g++ -fsyntax-only -Wall -Wextra -Werror against ESP-IDF stand-ins of every supported version, in both gate and trigger variants and with no break-beam GPIO chosen', async () => {
    const work = mkdtempSync(join(tmpdir(), 'plastisort-fw-'));
    const modelPath = join(work, 'm.tflite');
    writeFileSync(modelPath, writeTflite(int8Classifier({ residual: true })));
    await exportModel(modelPath, join(work, 'model'));
    const sources = readdirSync(join(fw, 'main')).filter((f) => f.endsWith('.cc'));
    const versions = supportedIdfVersions();
    // Every version with one configuration, the other gate/trigger configuration once.
    const runs = [
      ...versions.map(([major, minor]) => [`-DSTUB_IDF_MAJOR=${major}`, `-DSTUB_IDF_MINOR=${minor}`]),
      ['-DSTUB_GPIO_GATES', '-DSTUB_PERIODIC'],
      ['-DSTUB_NO_BEAM_GPIO'],
    ];
    for (const variant of runs) {
      for (const src of sources) {
        const r = spawnSync(
          'g++',
          [
            '-std=gnu++17',
            '-fsyntax-only',
            '-Wall',
            '-Wextra',
            '-Werror',
            ...variant,
            '-I', join(root, 'test/export/idf-stubs'),
            '-I', join(work, 'model'),
            '-I', join(fw, 'main'),
            '-I', join(fw, 'components/sorter_core/include'),
            '-I', join(fw, 'components/sorter_link/include'),
            join(fw, 'main', src),
          ],
          { encoding: 'utf8' },
        );
        expect(r.stderr, `${src} ${variant.join(' ')}`).toBe('');
        expect(r.status).toBe(0);
      }
    }
  });
});
