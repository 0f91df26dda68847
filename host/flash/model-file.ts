import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkModelForDevice } from '../export/export.ts';
import type { DeviceContract } from '../export/generate.ts';
import { parseOpResolverHeader } from '../export/ops.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import type { FlashPlan } from './images.ts';
import { appCarriesModel } from './app-image.ts';

export interface DeviceModel {
  data: Uint8Array;
  source: string;
  /** What the firmware reads from it (input, quantization, labels, ops), as export sees it. */
  contract: DeviceContract;
}

/**
 * Reads a .tflite for a board or a bundle and applies the check `plastisort export` applies
 * (checkModelForDevice: the full reader, the structural checks, the device contract), so a truncated
 * or damaged file, or one the firmware cannot run (uint8 or float input, too many classes, an op TFLM
 * has no kernel for, labels that do not match the classes), is refused before any byte is sent or
 * packed. What the firmware runs with a warning of its own (no plastisort metadata) is a warning here.
 */
export async function readModelForDevice(path: string): Promise<DeviceModel> {
  if (!existsSync(path)) throw new UserError(`${path}: no such model file`);
  const data = new Uint8Array(await readFile(path));
  let contract: DeviceContract;
  try {
    contract = checkModelForDevice(data, path).contract;
  } catch (e) {
    // The reader's and the contract's messages name the file and the fix already.
    const why = (e as Error).message.split('\n')[0]!;
    throw new UserError(why.includes(path) ? why : `${path}: ${why}`);
  }
  for (const w of contract.warnings) log.warn(w);
  return { data, source: path, contract };
}

/** The op resolver a firmware build was compiled with: its op_resolver.h and the ops it registers. */
export interface FirmwareResolver {
  header: string;
  ops: string[];
  /** The built-in model's SHA-256 the header was generated for (found in the app image). */
  modelSha256: string;
}

/** Where the firmware in a build folder found its op_resolver.h: ESP-IDF's project_description.json, else BUILD/../main/model. */
function resolverHeaderCandidates(buildDir: string): string[] {
  const out: string[] = [];
  try {
    const desc = JSON.parse(readFileSync(join(buildDir, 'project_description.json'), 'utf8')) as { project_path?: unknown };
    if (typeof desc.project_path === 'string') out.push(join(desc.project_path, 'main', 'model', 'op_resolver.h'));
  } catch {
    // Not an ESP-IDF build folder we can read; fall back to the default layout.
  }
  out.push(join(resolve(buildDir), '..', 'main', 'model', 'op_resolver.h'));
  return [...new Set(out)];
}

/**
 * The ops the app of a build folder registers. The firmware's resolver was generated for its built-in
 * model (op_resolver.h, written by export), so a header counts only when the app image holds that
 * model's SHA-256 (model_info.h's kModelSha256 is compiled into the app): a header edited or
 * regenerated after the build is not taken for the build's. Undefined when it cannot be known.
 */
export function firmwareResolver(buildDir: string, plan: FlashPlan): FirmwareResolver | undefined {
  const app = plan.images.find((i) => i.role === 'app');
  if (!app) return undefined;
  for (const header of resolverHeaderCandidates(buildDir)) {
    let text: string;
    try {
      text = readFileSync(header, 'utf8');
    } catch {
      continue;
    }
    const { modelSha256, ops } = parseOpResolverHeader(text);
    if (!modelSha256 || ops.length === 0 || !appCarriesModel(app.data, modelSha256)) continue;
    return { header, ops, modelSha256 };
  }
  return undefined;
}

/**
 * Refuses a model that uses an op the firmware of a build folder does not register: the board would
 * refuse it at boot (`model uses op X, which this firmware's resolver lacks`) and run its built-in model.
 * Does nothing when the build's resolver cannot be known (see firmwareResolver).
 */
export function requireModelOpsInBuild(model: DeviceModel, buildDir: string, plan: FlashPlan): void {
  const fw = firmwareResolver(buildDir, plan);
  if (!fw) return;
  requireModelOps(
    model,
    fw.ops,
    `the firmware in ${buildDir} lacks (its op resolver ${fw.header} has ${fw.ops.join(' ')}, for its built-in model)`,
    'put the model at models/default.tflite, run npm run headers and rebuild the firmware',
  );
}

/** Refuses a model with an op outside `ops`; `lacks` says whose resolver that is, `fix` what to do. */
export function requireModelOps(model: DeviceModel, ops: readonly string[], lacks: string, fix: string): void {
  const missing = model.contract.ops.map((o) => o.op).filter((op) => !ops.includes(op));
  if (missing.length === 0) return;
  throw new UserError(`${model.source}: the model uses ${missing.join(', ')}, which ${lacks}, so the board would refuse it and run the built-in model; ${fix}`);
}
