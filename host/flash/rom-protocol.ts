/**
 * Facts of the ESP ROM serial bootloader protocol (Espressif's published serial-protocol description):
 * command ids, packet layouts, chip-detect magic values and the ROM's 4 status bytes.
 */

export const Cmd = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
} as const;

export const CMD_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Cmd).map(([name, id]) => [id, name]),
);

/** Register whose value identifies the chip family on ESP32-S3 and earlier chips. */
export const CHIP_DETECT_MAGIC_REG = 0x40001000;
export const CHIP_MAGIC: Record<number, string> = {
  0x00f01d83: 'ESP32',
  0x000007c6: 'ESP32-S2',
  0x00000009: 'ESP32-S3',
  0x6921506f: 'ESP32-C3',
  0x1b31506f: 'ESP32-C3',
  0xfff0c101: 'ESP8266',
};
export const ESP32S3_MAGIC = 0x00000009;
/** Chip id in GET_SECURITY_INFO and at byte 12 of an application image header. */
export const ESP32S3_CHIP_ID = 9;

/**
 * ESP32-S3 registers esptool touches over USB-Serial-JTAG: the ROM variable telling which port the
 * ROM talks on, and the RTC watchdog and super watchdog, which are not reset by a USB-Serial-JTAG
 * reset and would otherwise reset a board in a boot loop in the middle of a flash.
 */
export const S3 = {
  UARTDEV_BUF_NO: 0x3fcef14c,
  UARTDEV_BUF_NO_USB_JTAG_SERIAL: 4,
  RTC_CNTL_WDTCONFIG0_REG: 0x60008000 + 0x98,
  RTC_CNTL_WDTWPROTECT_REG: 0x60008000 + 0xb0,
  RTC_CNTL_WDT_WKEY: 0x50d83aa1,
  RTC_CNTL_SWD_CONF_REG: 0x60008000 + 0xb4,
  RTC_CNTL_SWD_WPROTECT_REG: 0x60008000 + 0xb8,
  RTC_CNTL_SWD_WKEY: 0x8f1d312a,
  RTC_CNTL_SWD_AUTO_FEED_EN: 0x80000000,
  /** SPI0/1 controller registers used to run a flash command such as RDID (0x9F). */
  SPI_REG_BASE: 0x60002000,
  SPI_CMD_USR: 1 << 18,
  SPI_USR2_OFFS: 0x20,
  SPI_W0_OFFS: 0x58,
} as const;

/** ROM loader (not the stub) writes flash in 1 KiB blocks. */
export const ROM_FLASH_BLOCK = 0x400;
export const FLASH_SECTOR = 0x1000;
/** The ROM loader appends 4 status bytes to every response; the first is 0 on success, the second the error code. */
export const ROM_STATUS_BYTES = 4;

export const ROM_ERRORS: Record<number, string> = {
  0x05: 'received message is invalid',
  0x06: 'failed to act on received message',
  0x07: 'invalid CRC in message',
  0x08: 'flash write error (read-back check failed)',
  0x09: 'flash read error',
  0x0a: 'flash read length error',
  0x0b: 'deflate error',
};
/** The ROM's answer to a command it does not know or a malformed one. */
export const ROM_INVALID_RECV_MSG = 0x05;

export const SYNC_PAYLOAD = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]);

export function checksum(data: Uint8Array): number {
  let c = 0xef;
  for (const b of data) c ^= b;
  return c;
}

export function encodeCommand(cmd: number, data: Uint8Array, chk = 0): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  const v = new DataView(p.buffer);
  p[0] = 0x00;
  p[1] = cmd;
  v.setUint16(2, data.length, true);
  v.setUint32(4, chk, true);
  p.set(data, 8);
  return p;
}

export interface CommandPacket {
  cmd: number;
  checksum: number;
  data: Uint8Array;
}

export function decodeCommand(p: Uint8Array): CommandPacket | undefined {
  if (p.length < 8 || p[0] !== 0x00) return undefined;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const size = v.getUint16(2, true);
  if (p.length !== 8 + size) return undefined;
  return { cmd: p[1]!, checksum: v.getUint32(4, true), data: p.subarray(8) };
}

export interface ResponsePacket {
  cmd: number;
  value: number;
  /** Payload without the status bytes. */
  data: Uint8Array;
  status: number;
  error: number;
}

export function encodeResponse(cmd: number, value: number, data: Uint8Array, status = 0, error = 0): Uint8Array {
  const body = new Uint8Array(data.length + ROM_STATUS_BYTES);
  body.set(data, 0);
  body[data.length] = status;
  body[data.length + 1] = error;
  const p = new Uint8Array(8 + body.length);
  const v = new DataView(p.buffer);
  p[0] = 0x01;
  p[1] = cmd;
  v.setUint16(2, body.length, true);
  v.setUint32(4, value >>> 0, true);
  p.set(body, 8);
  return p;
}

export function decodeResponse(p: Uint8Array): ResponsePacket | undefined {
  if (p.length < 8 + 2 || p[0] !== 0x01) return undefined;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const size = v.getUint16(2, true);
  if (p.length < 8 + size || size < 2) return undefined;
  const body = p.subarray(8, 8 + size);
  const statusBytes = size >= ROM_STATUS_BYTES ? ROM_STATUS_BYTES : 2;
  const statusAt = body.length - statusBytes;
  return {
    cmd: p[1]!,
    value: v.getUint32(4, true),
    data: body.subarray(0, statusAt),
    status: body[statusAt]!,
    error: body[statusAt + 1]!,
  };
}

export function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return out;
}
