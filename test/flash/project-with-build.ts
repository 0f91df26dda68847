/**
 * A project folder as the ESP-IDF build leaves it: firmware/build (flasher_args.json and images) whose
 * app holds the SHA-256 of its built-in model (unless appKnowsHeader is false), and
 * firmware/main/model/op_resolver.h exported from that model. The built-in model is the classifier
 * without the residual block: CONV_2D MEAN FULLY_CONNECTED SOFTMAX, no DEPTHWISE_CONV_2D or ADD.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFirmwareFiles } from '../../host/export/generate.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { espImage, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { int8Classifier, type FixtureOptions } from '../export/fixtures.ts';

export const tfliteOf = (o: FixtureOptions = {}): Uint8Array => writeTflite(int8Classifier(o));

export async function projectWithBuild(prefix: string, opts: { appKnowsHeader?: boolean } = {}): Promise<{ dir: string; build: string; builtinSha: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const builtin = tfliteOf();
  const { summary, files } = generateFirmwareFiles(builtin, readTflite(builtin, 'builtin'), 'builtin');
  const app = espImage(40_000, 3);
  if (opts.appKnowsHeader !== false) app.set(Buffer.from(summary.sha256, 'hex'), 20_000);
  const build = join(dir, 'firmware', 'build');
  await makeBuildDir(build, undefined, undefined, app);
  mkdirSync(join(dir, 'firmware', 'main', 'model'), { recursive: true });
  for (const f of files) if (f.name === 'op_resolver.h') writeFileSync(join(dir, 'firmware', 'main', 'model', f.name), f.content);
  return { dir, build, builtinSha: summary.sha256 };
}
