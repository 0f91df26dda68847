/**
 * `flash --bundle DIR --model FILE` checks the model's ops against the bundle's firmware, as
 * `flash --build DIR --model FILE` checks them against the build's op_resolver.h: the bundle's manifest
 * records the op resolver its app was built with. A bundle without that record says why it cannot check.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createBundle, type BundleManifest } from '../../host/flash/bundle.ts';
import { prepareFlash } from '../../host/flash/cli-flow.ts';
import { UserError } from '../../host/util/errors.ts';
import { log } from '../../host/util/log.ts';
import { projectWithBuild, tfliteOf } from './project-with-build.ts';

const model = tfliteOf;

/**
 * A project: firmware/build whose app holds its built-in model's SHA-256 (unless appKnowsHeader is
 * false), firmware/main/model/op_resolver.h exported from that model (CONV_2D MEAN FULLY_CONNECTED
 * SOFTMAX), a bundle made from the build, a model with the build's ops and one with DEPTHWISE_CONV_2D, ADD.
 */
async function project(opts: { appKnowsHeader?: boolean } = {}) {
  const { dir, build, builtinSha } = await projectWithBuild('bundle-ops-', opts);
  const bundle = join(dir, 'bundle');
  await createBundle(join(build, 'flasher_args.json'), bundle);
  writeFileSync(join(dir, 'residual.tflite'), model({ residual: true }));
  writeFileSync(join(dir, 'plain.tflite'), model({ seed: 5 }));
  return { dir, build, bundle, builtinSha };
}

describe('flash --bundle --model checks the model\'s ops against the bundle\'s firmware', () => {
  it('the manifest records the app\'s op resolver, and a model with an op it lacks is refused before any port', async () => {
    const { dir, bundle, builtinSha } = await project();
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as BundleManifest;
    expect(manifest.opResolver).toEqual({ modelSha256: builtinSha, ops: ['CONV_2D', 'MEAN', 'FULLY_CONNECTED', 'SOFTMAX'] });
    const file = join(dir, 'residual.tflite');
    for (const modelOnly of [true, false]) {
      const e = await prepareFlash({ bundle, build: '', baud: 115200, model: file, modelOnly }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(UserError);
      expect((e as Error).message).toBe(
        `${file}: the model uses DEPTHWISE_CONV_2D, ADD, which the firmware in bundle ${bundle} lacks (its op resolver has CONV_2D MEAN FULLY_CONNECTED SOFTMAX, for its built-in model), ` +
          'so the board would refuse it and run the built-in model; choose a model with those ops, or rebuild the firmware for this model (put it at models/default.tflite, run npm run headers, rebuild) and make the bundle again',
      );
    }
    // A model with the firmware's ops goes through, without a warning.
    const warn = vi.spyOn(log, 'warn').mockImplementation(() => {});
    try {
      const prepared = await prepareFlash({ bundle, build: '', baud: 115200, model: join(dir, 'plain.tflite'), modelOnly: false });
      expect(prepared.images.map((i) => i.role)).toEqual(['bootloader', 'partition-table', 'app', 'model']);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('a bundle without the record (resolver unknown at bundle time) says it cannot check, and flashes', async () => {
    const { dir, bundle } = await project({ appKnowsHeader: false });
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as BundleManifest;
    expect(manifest.opResolver).toBeUndefined();
    const warn = vi.spyOn(log, 'warn').mockImplementation(() => {});
    try {
      await expect(prepareFlash({ bundle, build: '', baud: 115200, model: join(dir, 'residual.tflite'), modelOnly: true })).resolves.toBeDefined();
      expect(warn.mock.calls).toEqual([
        [
          `${join(bundle, 'manifest.json')} records no op resolver for its firmware (a bundle made before plastisort recorded it, or from a build whose op_resolver.h was not found or not the app's); ` +
            `the ops of ${join(dir, 'residual.tflite')} are not checked against the bundle's firmware (make the bundle again with plastisort bundle to record them)`,
        ],
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('through the built CLI', () => {
  it('flash --bundle b --model residual.tflite: exit 1, one line, before the port is opened', async () => {
    const { dir } = await project();
    const r = spawnSync(process.execPath, [resolve('dist/plastisort.js'), 'flash', '--bundle', 'bundle', '--model', 'residual.tflite', '--port', '/dev/nonexistent-port'], {
      cwd: dir,
      env: { ...process.env, PLASTISORT_DEBUG: '' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^plastisort: residual\.tflite: the model uses DEPTHWISE_CONV_2D, ADD, which the firmware in bundle bundle lacks/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
