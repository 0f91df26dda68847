import { UserError } from '../util/errors.ts';
import type { PlastisortMetadata, TfliteModel } from './model.ts';

/** The `plastisort` metadata entry of a model: labels, input size and scaling as a JSON record. */

const METADATA_KEY = 'plastisort';

export function getPlastisortMetadata(model: TfliteModel): PlastisortMetadata | undefined {
  const raw = model.metadata[METADATA_KEY];
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new UserError(`metadata "${METADATA_KEY}" is not valid JSON; re-create the model with plastisort quantize`);
  }
  const m = parsed as Partial<PlastisortMetadata> | null;
  if (!m || typeof m !== 'object' || m.schema !== 'plastisort.model/1' || !Array.isArray(m.labels)) {
    throw new UserError(
      `metadata "${METADATA_KEY}" is not a plastisort.model/1 record; re-create the model with plastisort quantize`,
    );
  }
  const bad = metadataProblem(m);
  if (bad) throw new UserError(`metadata "${METADATA_KEY}": ${bad}; re-create the model with plastisort quantize`);
  return m as PlastisortMetadata;
}

/** The first field of a plastisort.model/1 record that a reader of it (inspect, hil, evaluate) cannot use. */
function metadataProblem(m: Partial<PlastisortMetadata>): string | undefined {
  if (!m.labels!.every((l) => typeof l === 'string')) return 'labels are not all strings';
  if (!(Number.isInteger(m.inputSize) && m.inputSize! > 0 && m.inputSize! <= 4096)) return `inputSize ${String(m.inputSize)} is not a whole number of pixels`;
  const f = m.floatScaling;
  if (!f || !Number.isFinite(f.scale) || !Number.isFinite(f.offset)) return 'floatScaling is missing or not finite';
  if (m.resize !== 'squash' && m.resize !== 'center-crop') return `resize ${JSON.stringify(m.resize)} is neither squash nor center-crop`;
  return undefined;
}

export function withPlastisortMetadata(model: TfliteModel, meta: PlastisortMetadata): TfliteModel {
  return {
    ...model,
    metadata: { ...model.metadata, [METADATA_KEY]: new TextEncoder().encode(JSON.stringify(meta)) },
  };
}
