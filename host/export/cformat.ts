/**
 * Formatting helpers for generated C/C++ source: stable bytes for the same input, no locale, no
 * timestamps.
 */

/** A C string literal; quotes, backslashes and anything outside printable ASCII become escapes. */
export function cString(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let out = '"';
  for (const b of bytes) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x3f) out += '\\?'; // keeps "??x" from reading as a trigraph in old compilers
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += '\\' + b.toString(8).padStart(3, '0'); // octal escapes stop after 3 digits
  }
  return out + '"';
}

/**
 * The shortest decimal that reads back as the same float32, as a C++ float literal. Scales are float32
 * in the model, so this round-trips exactly through the compiler.
 */
export function cFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`cannot write ${x} as a C float literal`);
  const f = Math.fround(x);
  if (f === 0) return '0.0f';
  let s = '';
  for (let p = 1; p <= 9; p++) {
    s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) break;
  }
  // toPrecision may give "1e-7" or "3.9e-3"-free forms; normalise to C syntax with a fraction part.
  let [mant, exp] = s.split('e') as [string, string | undefined];
  if (!mant.includes('.')) mant += '.0';
  return exp !== undefined ? `${mant}e${Number(exp)}f` : `${mant}f`;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => `0x${b.toString(16).padStart(2, '0')},`);

/**
 * Byte array body: `perLine` values per line, each line indented by two spaces, values separated by
 * one space, every value followed by a comma. firmware/main/cmake/embed_model.cmake writes the same
 * layout, so the build-time array equals the exported one byte for byte.
 */
export function cByteLines(data: Uint8Array, perLine = 12): string {
  const lines: string[] = [];
  for (let i = 0; i < data.length; i += perLine) {
    const end = Math.min(i + perLine, data.length);
    const parts = new Array<string>(end - i);
    for (let j = i; j < end; j++) parts[j - i] = HEX_BYTE[data[j]!]!;
    lines.push('  ' + parts.join(' '));
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
