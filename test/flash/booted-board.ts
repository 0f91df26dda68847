/** A booted board on the far end of the flasher's link: it answers every HELLO with `answer`. */
import type { ByteLink } from '../../host/link/port.ts';
import { encodeInfo, type InfoMessage } from '../../host/link/messages.ts';
import { FrameDecoder, MsgType, encodeFrame } from '../../host/link/protocol.ts';

export function bootedBoard(answer: InfoMessage): ByteLink {
  const dec = new FrameDecoder();
  const listeners: ((c: Uint8Array) => void)[] = [];
  return {
    path: '/dev/ttyFAKE',
    async write(data) {
      for (const ev of dec.push(data)) {
        if (ev.kind !== 'frame' || ev.frame.type !== MsgType.HELLO) continue;
        const seq = ev.frame.seq;
        setImmediate(() => listeners.forEach((l) => l(encodeFrame(MsgType.INFO, seq, encodeInfo(answer)))));
      }
    },
    onData(l) {
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
    setSignals: async () => {},
    setBaudRate: async () => {},
    close: async () => {},
  };
}
