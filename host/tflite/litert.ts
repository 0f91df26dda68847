/**
 * Runs `.tflite` models on the desktop through Google's LiteRT.js (`@litertjs/core`, WebAssembly CPU
 * kernels, XNNPACK) inside Node. LiteRT.js is built for browsers; two adaptations make it work here,
 * both applied at load time so nothing in node_modules changes:
 *
 * 1. Loader: the package loads its Emscripten glue with `importScripts` (web workers) or a `<script>`
 *    tag and then reads `self.ModuleFactory`. We supply `importScripts` that evaluates the glue as a
 *    CommonJS-style script (it exports `ModuleFactory` through `module.exports`) and a temporary
 *    `self`. The glue itself detects Node and reads its `.wasm` with `fs`.
 * 2. dtypes: the package's frozen dtype table knows float32, int32 and uint8 only, so an int8 model
 *    cannot take inputs or return outputs. We import a copy of its ESM entry (as a `data:` URL) whose
 *    table has an int8 row added; the rest of the code is byte-for-byte the package's.
 *
 * Numerics: LiteRT's int8 kernels requantize in float32 on some paths, so outputs may differ by one
 * LSB from TensorFlow Lite Micro on a few values.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import type * as LiteRtCore from '@litertjs/core';
import { UserError } from '../util/errors.ts';

export type LiteRtDtype = 'float32' | 'int32' | 'uint8' | 'int8';
export type LiteRtArray = Int8Array | Uint8Array | Float32Array | Int32Array;

export interface TensorInfo {
  name: string;
  shape: number[];
  dtype: LiteRtDtype;
}

export interface LiteRtModel {
  inputs(): TensorInfo[];
  outputs(): TensorInfo[];
  /** One typed array per model input, in input order; returns copies of the outputs in output order. */
  run(inputs: LiteRtArray[]): Promise<LiteRtArray[]>;
  dispose(): void;
}

type Core = typeof LiteRtCore;

let corePromise: Promise<Core> | undefined;

/** Loads and initialises the LiteRT runtime once per process. */
export function liteRtRuntime(): Promise<Core> {
  corePromise ??= initRuntime().catch((e: unknown) => {
    corePromise = undefined;
    throw e;
  });
  return corePromise;
}

function packageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('@litertjs/core/package.json'));
  } catch {
    throw new UserError('@litertjs/core is not installed; run npm ci');
  }
}

/** The package's ESM entry with an int8 row added to its dtype table, imported from memory. */
async function importPatchedCore(dir: string): Promise<Core> {
  const entry = join(dir, 'dist', 'index.js');
  let src = readFileSync(entry, 'utf8');
  const uint8Row = /(\{\s*dtype:\s*"uint8",\s*typedArrayConstructor:\s*Uint8Array,\s*elementType:\s*ElementType\.UINT8\s*\})/;
  if (!uint8Row.test(src)) {
    throw new Error(`${entry}: dtype table not found; the LiteRT int8 shim needs updating for this @litertjs/core version`);
  }
  src = src.replace(
    uint8Row,
    '$1,\n  { dtype: "int8", typedArrayConstructor: Int8Array, elementType: ElementType.INT8 }',
  );
  // A data: URL module cannot resolve bare specifiers, so point its one import at the resolved file.
  const require = createRequire(entry);
  const wasmUtils = pathToFileURL(require.resolve('@litertjs/wasm-utils')).href;
  const importLine = /from\s+["']@litertjs\/wasm-utils["']/;
  if (!importLine.test(src)) {
    throw new Error(`${entry}: import of @litertjs/wasm-utils not found; the LiteRT shim needs updating`);
  }
  src = src.replace(importLine, `from ${JSON.stringify(wasmUtils)}`).replace(/\/\/# sourceMappingURL=.*$/m, '');
  return (await import(`data:text/javascript;base64,${Buffer.from(src).toString('base64')}`)) as Core;
}

async function initRuntime(): Promise<Core> {
  const dir = packageDir();
  const core = await importPatchedCore(dir);
  const g = globalThis as Record<string, unknown>;
  const hadSelf = 'self' in g;
  const hadImportScripts = 'importScripts' in g;
  if (!hadSelf) g.self = globalThis;
  if (!hadImportScripts) {
    g.importScripts = (url: string) => {
      const file = url.startsWith('file:') ? new URL(url).pathname : url;
      const code = readFileSync(file, 'utf8');
      const wrapped = vm.runInThisContext(
        `(function (require, module, exports, __filename, __dirname) {${code}\n})`,
        { filename: file },
      ) as (r: NodeJS.Require, m: { exports: unknown }, e: unknown, f: string, d: string) => void;
      const mod: { exports: unknown } = { exports: {} };
      wrapped(createRequire(file), mod, mod.exports, file, dirname(file));
      g.ModuleFactory = mod.exports;
    };
  }
  // The loader passes `self.Module` to the Emscripten factory: route the runtime's log lines (it
  // prints INFO lines for every environment and model) away from the terminal.
  g.Module = { print: runtimeLog, printErr: runtimeLog };
  // Node has no WebGPU; LiteRT warns with a stack trace when its default environment probes for it.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Failed to create default WebGPU device')) return;
    warn(...args);
  };
  try {
    await core.loadLiteRt(join(dir, 'wasm') + '/');
  } finally {
    console.warn = warn;
    if (!hadSelf) delete g.self;
    if (!hadImportScripts) delete g.importScripts;
    delete g.Module;
    delete g.ModuleFactory;
  }
  return core;
}

/** Recent runtime log lines, quoted in error messages; PLASTISORT_LITERT_LOG=1 shows them live. */
const recentLog: string[] = [];

function runtimeLog(line: string): void {
  if (process.env.PLASTISORT_LITERT_LOG === '1') process.stderr.write(`litert: ${line}\n`);
  recentLog.push(line);
  if (recentLog.length > 20) recentLog.shift();
}

function lastRuntimeError(): string {
  const errors = recentLog.filter((l) => /^(ERROR|WARNING)/.test(l) && !l.includes('NPU accelerator'));
  return errors.length ? `; LiteRT said: ${errors[errors.length - 1]}` : '';
}

const ARRAY_OF: Record<LiteRtDtype, { new (n: number): LiteRtArray; name: string }> = {
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
  int8: Int8Array,
};

function toInfo(d: { name: string; dtype: string; shape: Int32Array }): TensorInfo {
  return { name: d.name, shape: Array.from(d.shape), dtype: d.dtype as LiteRtDtype };
}

/**
 * Compiles a `.tflite` flatbuffer for LiteRT's CPU (wasm) accelerator. Errors from LiteRT (an
 * unsupported op, a malformed model) become UserErrors naming what failed.
 */
export async function loadLiteRtModel(bytes: Uint8Array, source = '<model>'): Promise<LiteRtModel> {
  const core = await liteRtRuntime();
  let compiled: LiteRtCore.CompiledModel;
  recentLog.length = 0;
  try {
    // LiteRT may keep a reference to the bytes; give it its own copy.
    compiled = await core.loadAndCompile(bytes.slice(), { accelerator: 'wasm' });
  } catch (e) {
    throw new UserError(`${source}: LiteRT could not load the model (${(e as Error).message ?? String(e)}${lastRuntimeError()})`);
  }
  const inputs = compiled.getInputDetails().map(toInfo);
  const outputs = compiled.getOutputDetails().map(toInfo);
  let disposed = false;
  return {
    inputs: () => inputs.map((t) => ({ ...t, shape: [...t.shape] })),
    outputs: () => outputs.map((t) => ({ ...t, shape: [...t.shape] })),
    async run(data: LiteRtArray[]): Promise<LiteRtArray[]> {
      if (disposed) throw new Error('LiteRtModel.run after dispose()');
      if (data.length !== inputs.length) {
        throw new UserError(`${source}: the model takes ${inputs.length} inputs, got ${data.length}`);
      }
      const tensors = data.map((arr, i) => {
        const info = inputs[i]!;
        const want = ARRAY_OF[info.dtype];
        const count = info.shape.reduce((a, b) => a * b, 1);
        if (!(arr instanceof want) || arr.length !== count) {
          throw new UserError(
            `${source}: input ${i} (${info.name}) needs a ${want.name} of ${count} values for shape [${info.shape.join(',')}], got ${arr.constructor.name}(${arr.length})`,
          );
        }
        // The package's TypedArray type predates our int8 row; the patched runtime accepts Int8Array.
        return new core.Tensor(arr as Float32Array, info.shape);
      });
      try {
        const results = await compiled.run(tensors);
        try {
          return results.map((t) => {
            const out = t.toTypedArray() as LiteRtArray;
            return out.slice();
          });
        } finally {
          for (const t of results) t.delete();
        }
      } finally {
        for (const t of tensors) t.delete();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      compiled.delete();
    },
  };
}
