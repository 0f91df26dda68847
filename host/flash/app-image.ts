/**
 * The version an ESP-IDF application image carries: its `esp_app_desc_t` sits right after the image
 * header (24 bytes) and the first segment header (8 bytes), starting with magic 0xABCD5432; the
 * version string is 32 bytes at offset 16 of that structure.
 */
const APP_DESC_OFFSET = 24 + 8;
const APP_DESC_MAGIC = 0xabcd5432;

export function appImageVersion(image: Uint8Array): string | undefined {
  if (image.length < APP_DESC_OFFSET + 48) return undefined;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image[0] !== 0xe9 || v.getUint32(APP_DESC_OFFSET, true) !== APP_DESC_MAGIC) return undefined;
  const raw = image.subarray(APP_DESC_OFFSET + 16, APP_DESC_OFFSET + 48);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end));
}
