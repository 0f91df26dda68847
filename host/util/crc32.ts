// CRC-32/IEEE 802.3 (reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), as zlib
// and the firmware's sorter/checksum.h: the serial frames and the model partition header both carry it.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32Update(state: number, data: Uint8Array): number {
  let c = state;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** The CRC-32 of the parts concatenated; crc32("123456789") = 0xCBF43926. */
export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) c = crc32Update(c, p);
  return (c ^ 0xffffffff) >>> 0;
}
