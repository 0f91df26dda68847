import { UserError } from '../util/errors.ts';
import { planArena, tensorBytes } from './arena.ts';
import { arenaBudget, type ArenaBudget } from './arena-budget.ts';
import type { PlastisortMetadata, Quantization, TensorType, TfliteModel } from './model.ts';
import { readQuantizationVectorBytes, readTflite } from './reader.ts';
import { getPlastisortMetadata } from './plastisort-metadata.ts';
import { validateTfliteModel } from './validate.ts';
import { readInputFile } from '../util/read-input.ts';

/** What a firmware engineer needs to know about a `.tflite` before flashing it. */
export interface InspectReport {
  fileBytes: number;
  version: number;
  description: string;
  operatorCount: number;
  /** Op name → count, in order of first use. Unknown ops appear under their schema name. */
  ops: { op: string; count: number }[];
  tensorCount: number;
  constantTensorCount: number;
  activationTensorCount: number;
  tensors: InspectTensor[];
  inputs: InspectTensor[];
  outputs: InspectTensor[];
  /** Constant data: total and per tensor type (each buffer counted once). */
  weightBytes: { total: number; byType: Partial<Record<TensorType, number>> };
  /**
   * Where the file's bytes go. weights/biases: constant filters and int32 biases of CONV_2D,
   * DEPTHWISE_CONV_2D and FULLY_CONNECTED; quantParams: distinct quantization vectors (absent when the
   * report was made without the file's bytes); other: tables, names, shapes, alignment, metadata.
   * overheadPercent: file bytes over weights + biases, in percent (the quantize size target).
   */
  size: { weights: number; biases: number; otherConstants: number; quantParams?: number; other: number; overheadPercent: number };
  /**
   * The tensor arena an ESP32-S3 needs (arena-budget.ts): peakBytes is the greedy plan of the
   * activations alone; espNn[] the plan with each esp-nn version's kernel scratch buffers (every
   * request listed by operator); persistentBytes TFLM's own allocations (its fixed part is the
   * margin for what is not counted per tensor, operator or channel); totalBytes the firmware's
   * kArenaBytes, for the worst version.
   */
  arena: { peakBytes: number; activationBytesTotal: number } & Omit<ArenaBudget, 'activationBytes' | 'activationBytesUnshared'>;
  metadataKeys: string[];
  /** Structural problems found by validate.ts (buffer sizes, op shapes); empty for a sound model. */
  problems: string[];
  plastisort?: PlastisortMetadata;
  /** Set when the `plastisort` metadata entry exists but cannot be read. */
  plastisortError?: string;
}

export interface InspectTensor {
  index: number;
  name: string;
  shape: number[];
  type: TensorType;
  bytes: number;
  constant: boolean;
  quantization?: Quantization;
}

/** `quantParamBytes`: from readQuantizationVectorBytes on the same file, for the size breakdown. */
export function inspectModel(model: TfliteModel, fileBytes: number, quantParamBytes?: number): InspectReport {
  const isConstant = (buffer: number) => (model.buffers[buffer]?.length ?? 0) > 0;
  const tensors: InspectTensor[] = model.tensors.map((t, index) => {
    const out: InspectTensor = {
      index,
      name: t.name,
      shape: [...t.shape],
      type: t.type,
      bytes: tensorBytes(t.shape, t.type),
      constant: isConstant(t.buffer),
    };
    if (t.quantization) out.quantization = t.quantization;
    return out;
  });

  const opCounts = new Map<string, number>();
  for (const op of model.operators) {
    const name = op.op === 'OTHER' ? op.name : op.op;
    opCounts.set(name, (opCounts.get(name) ?? 0) + 1);
  }

  const byType: Partial<Record<TensorType, number>> = {};
  const counted = new Set<number>();
  let total = 0;
  for (const t of model.tensors) {
    if (!isConstant(t.buffer) || counted.has(t.buffer)) continue;
    counted.add(t.buffer);
    const n = model.buffers[t.buffer]!.length;
    byType[t.type] = (byType[t.type] ?? 0) + n;
    total += n;
  }

  const role = new Map<number, 'weights' | 'biases'>();
  for (const op of model.operators) {
    if (op.op !== 'CONV_2D' && op.op !== 'DEPTHWISE_CONV_2D' && op.op !== 'FULLY_CONNECTED') continue;
    const w = model.tensors[op.inputs[1] ?? -1];
    const b = model.tensors[op.inputs[2] ?? -1];
    if (w && isConstant(w.buffer)) role.set(w.buffer, 'weights');
    if (b && isConstant(b.buffer)) role.set(b.buffer, 'biases');
  }
  let weights = 0;
  let biases = 0;
  for (const [buffer, r] of role) {
    if (r === 'weights') weights += model.buffers[buffer]!.length;
    else biases += model.buffers[buffer]!.length;
  }
  const payload = weights + biases;
  const size: InspectReport['size'] = {
    weights,
    biases,
    otherConstants: total - payload,
    ...(quantParamBytes !== undefined ? { quantParams: quantParamBytes } : {}),
    other: fileBytes - total - (quantParamBytes ?? 0),
    overheadPercent: payload > 0 ? (100 * (fileBytes - payload)) / payload : 0,
  };

  const plan = planArena(model);
  const { activationBytes: _peak, activationBytesUnshared: _unshared, ...budget } = arenaBudget(model);
  const report: InspectReport = {
    fileBytes,
    version: model.version,
    description: model.description,
    operatorCount: model.operators.length,
    ops: [...opCounts].map(([op, count]) => ({ op, count })),
    tensorCount: tensors.length,
    constantTensorCount: tensors.filter((t) => t.constant).length,
    activationTensorCount: tensors.filter((t) => !t.constant).length,
    tensors,
    inputs: model.inputs.map((i) => tensors[i]!),
    outputs: model.outputs.map((i) => tensors[i]!),
    weightBytes: { total, byType },
    size,
    arena: { peakBytes: plan.peakBytes, activationBytesTotal: plan.tensors.reduce((a, t) => a + t.bytes, 0), ...budget },
    metadataKeys: Object.keys(model.metadata),
    problems: validateTfliteModel(model),
  };
  try {
    const meta = getPlastisortMetadata(model);
    if (meta) report.plastisort = meta;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    report.plastisortError = e.message;
  }
  return report;
}

/** Reads and inspects a file; every problem with the file surfaces as a one-line UserError. */
export async function inspectTfliteFile(path: string): Promise<InspectReport> {
  const bytes: Uint8Array = await readInputFile(path, 'the file', 'check the path');
  const model = readTflite(bytes, path);
  return inspectModel(model, bytes.length, readQuantizationVectorBytes(bytes, path).bytes);
}

function kb(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+$/, '').replace(/\.?0+e/, 'e');
}

function quantText(q: Quantization | undefined): string {
  if (!q) return '';
  if (q.scale.length === 1) return `scale ${num(q.scale[0]!)} zp ${q.zeroPoint[0] ?? 0}`;
  const min = q.scale.reduce((a, b) => Math.min(a, b), Infinity);
  const max = q.scale.reduce((a, b) => Math.max(a, b), -Infinity);
  const zps = new Set(q.zeroPoint);
  const zp = zps.size === 1 ? `zp ${[...zps][0]}` : 'zp varies';
  return `per-channel ×${q.scale.length} (dim ${q.quantizedDimension ?? 0}) scale ${num(min)}…${num(max)} ${zp}`;
}

function tensorLine(t: InspectTensor): string {
  return `  ${String(t.index).padStart(4)}  ${t.type.padEnd(7)} [${t.shape.join(',')}]`.padEnd(36) +
    ` ${(t.constant ? kb(t.bytes) : '').padStart(10)}  ${t.name}${t.quantization ? `  (${quantText(t.quantization)})` : ''}`;
}

function arenaLines(a: InspectReport['arena']): string[] {
  const lines = [
    `arena: ${kb(a.totalBytes)} (${a.totalBytes} bytes) on an ESP32-S3 with ESP-NN, sized for ${a.espNn.find((v) => v.version === a.worst)?.releases}`,
    `  activations (greedy plan): ${a.peakBytes} bytes, without reuse ${a.activationBytesTotal}`,
  ];
  for (const v of a.espNn) {
    const big = v.largestScratch ? `; largest request ${v.largestScratch.bytes} by op ${v.largestScratch.op} ${v.largestScratch.opName} (${v.largestScratch.name})` : '';
    lines.push(`  ${v.releases}: activations + scratch plan ${v.plannedBytes} bytes, arena ${v.totalBytes}${big}`);
  }
  const p = a.persistentParts;
  lines.push(
    `  persistent (TFLM, estimate): ${a.persistentBytes} bytes = margin ${p.fixed} + tensors ${p.perTensor} + operators ${p.perOperator} + per-channel quantization ${p.perChannelQuant}`,
    `  preserve_all_tensors (DUMP): ${a.preserveAllBytes} bytes; scratch per op in --json (arena.espNn[].scratch)`,
  );
  return lines;
}

export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`file: ${kb(r.fileBytes)} (${r.fileBytes} bytes), schema version ${r.version}${r.description ? `, "${r.description}"` : ''}`);
  lines.push(`operators: ${r.operatorCount}`);
  for (const o of r.ops) lines.push(`  ${o.op.padEnd(28)} ${String(o.count).padStart(4)}`);
  lines.push(
    `tensors: ${r.tensorCount} (${r.constantTensorCount} constant, ${r.activationTensorCount} activations)`,
  );
  const types = Object.entries(r.weightBytes.byType)
    .map(([t, n]) => `${t} ${kb(n!)}`)
    .join(', ');
  lines.push(`weights: ${kb(r.weightBytes.total)} (${r.weightBytes.total} bytes${types ? `; ${types}` : ''})`);
  const z = r.size;
  const share = (n: number) => (r.fileBytes > 0 ? ` ${((100 * n) / r.fileBytes).toFixed(1)}%` : '');
  lines.push(
    `size: weights ${kb(z.weights)}${share(z.weights)}, biases ${kb(z.biases)}${share(z.biases)}, other constants ${kb(z.otherConstants)}` +
      (z.quantParams !== undefined ? `, quantization parameters ${kb(z.quantParams)}${share(z.quantParams)}` : '') +
      `, ${z.quantParams !== undefined ? 'tables, names and metadata' : 'quantization parameters, tables, names and metadata'} ${kb(z.other)}${share(z.other)}; file is ${z.overheadPercent.toFixed(2)}% over weights + biases`,
  );
  lines.push(...arenaLines(r.arena));
  lines.push('inputs:');
  for (const t of r.inputs) lines.push(tensorLine(t));
  lines.push('outputs:');
  for (const t of r.outputs) lines.push(tensorLine(t));
  lines.push(`metadata: ${r.metadataKeys.length ? r.metadataKeys.join(', ') : '(none)'}`);
  if (r.plastisort) {
    const p = r.plastisort;
    lines.push(
      `plastisort: ${p.labels.length} labels [${p.labels.join(', ')}], input ${p.inputSize}×${p.inputSize} ${p.inputContract}, resize ${p.resize}, float scaling x = p·${num(p.floatScaling.scale)} + ${num(p.floatScaling.offset)}${p.runId ? `, run ${p.runId}` : ''}`,
    );
  }
  if (r.plastisortError) lines.push(`plastisort metadata unreadable: ${r.plastisortError}`);
  if (r.problems.length) {
    lines.push(`problems (${r.problems.length}):`);
    for (const p of r.problems) lines.push(`  ${p}`);
  } else {
    lines.push('problems: none found (buffer sizes, quantization counts, op shapes)');
  }
  lines.push('all tensors (index, type, shape, constant size, name, quantization):');
  for (const t of r.tensors) lines.push(tensorLine(t));
  return lines.join('\n') + '\n';
}
