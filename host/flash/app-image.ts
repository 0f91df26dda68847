/**
 * What an ESP-IDF application image says about itself: its `esp_app_desc_t` sits right after the
 * image header (24 bytes) and the first segment header (8 bytes), starting with magic 0xABCD5432.
 * In that structure (ESP-IDF v5/v6 `esp_app_format/include/esp_app_desc.h`) the version string is 32
 * bytes at offset 16 and the SHA-256 of the app's ELF file 32 bytes at offset 144; the build writes
 * the hash into the image, and the running app reports the same bytes (esp_app_get_description()).
 */
const APP_DESC_OFFSET = 24 + 8;
const APP_DESC_MAGIC = 0xabcd5432;
const VERSION_OFFSET = 16;
const ELF_SHA256_OFFSET = 144;

function appDesc(image: Uint8Array): Uint8Array | undefined {
  if (image.length < APP_DESC_OFFSET + ELF_SHA256_OFFSET + 32) return undefined;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image[0] !== 0xe9 || v.getUint32(APP_DESC_OFFSET, true) !== APP_DESC_MAGIC) return undefined;
  return image.subarray(APP_DESC_OFFSET, APP_DESC_OFFSET + 256);
}

export function appImageVersion(image: Uint8Array): string | undefined {
  const desc = appDesc(image);
  if (!desc) return undefined;
  const raw = desc.subarray(VERSION_OFFSET, VERSION_OFFSET + 32);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end));
}

/** Lower-case hex of app_elf_sha256; undefined without a descriptor or when the field is all zero. */
export function appImageElfSha256(image: Uint8Array): string | undefined {
  const desc = appDesc(image);
  if (!desc) return undefined;
  const sha = desc.subarray(ELF_SHA256_OFFSET, ELF_SHA256_OFFSET + 32);
  if (sha.every((b) => b === 0)) return undefined;
  return Buffer.from(sha).toString('hex');
}

/**
 * Does the app image carry this model's SHA-256? The firmware compiles its built-in model's hash in
 * (model_info.h's kModelSha256), so that tells the built-in model and the headers it was built with.
 */
export function appCarriesModel(image: Uint8Array, modelSha256Hex: string): boolean {
  return Buffer.from(image.buffer, image.byteOffset, image.byteLength).includes(Buffer.from(modelSha256Hex, 'hex'));
}
