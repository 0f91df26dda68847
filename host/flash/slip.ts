/**
 * SLIP framing as the ESP ROM bootloader uses it: each packet starts and ends with 0xC0; inside,
 * 0xC0 becomes 0xDB 0xDC and 0xDB becomes 0xDB 0xDD.
 */
export const SLIP_END = 0xc0;
const SLIP_ESC = 0xdb;
const SLIP_ESC_END = 0xdc;
const SLIP_ESC_ESC = 0xdd;

export function slipEncode(packet: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of packet) if (b === SLIP_END || b === SLIP_ESC) extra++;
  const out = new Uint8Array(packet.length + extra + 2);
  let o = 0;
  out[o++] = SLIP_END;
  for (const b of packet) {
    if (b === SLIP_END) {
      out[o++] = SLIP_ESC;
      out[o++] = SLIP_ESC_END;
    } else if (b === SLIP_ESC) {
      out[o++] = SLIP_ESC;
      out[o++] = SLIP_ESC_ESC;
    } else {
      out[o++] = b;
    }
  }
  out[o++] = SLIP_END;
  return out;
}

/**
 * Streaming decoder: feed any chunking of the byte stream, get whole packets. Bytes outside a packet
 * (boot messages printed by the ROM) are ignored; a packet with a bad escape is dropped.
 */
export class SlipDecoder {
  private buf: number[] = [];
  private inPacket = false;
  private escaped = false;
  private bad = false;

  push(chunk: Uint8Array): Uint8Array[] {
    const packets: Uint8Array[] = [];
    for (const b of chunk) {
      if (b === SLIP_END) {
        if (this.inPacket && this.buf.length > 0 && !this.bad && !this.escaped) {
          packets.push(Uint8Array.from(this.buf));
        }
        // A 0xC0 both ends a packet and may start the next one.
        this.inPacket = true;
        this.buf = [];
        this.escaped = false;
        this.bad = false;
        continue;
      }
      if (!this.inPacket) continue;
      if (this.escaped) {
        if (b === SLIP_ESC_END) this.buf.push(SLIP_END);
        else if (b === SLIP_ESC_ESC) this.buf.push(SLIP_ESC);
        else this.bad = true;
        this.escaped = false;
      } else if (b === SLIP_ESC) {
        this.escaped = true;
      } else {
        this.buf.push(b);
      }
    }
    return packets;
  }
}
