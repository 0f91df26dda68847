/**
 * SorterClient against a scripted in-memory device: retries after lost frames, reset detection with
 * resend, version and model-hash refusals, and ordering under pipelining.
 */
import { describe, expect, it } from 'vitest';
import { SorterClient, TimeoutError } from '../../host/link/client.ts';
import type { Transport } from '../../host/link/port.ts';
import { FrameDecoder, MsgType, PROTOCOL_VERSION, SEQ_UNSOLICITED, ErrorCode, encodeFrame, type Frame } from '../../host/link/protocol.ts';
import { encodeError, encodeInfo, encodeResult, type InfoMessage } from '../../host/link/messages.ts';
import { UserError } from '../../host/util/errors.ts';

const SHA = 'ab'.repeat(32);

function info(bootId: number, over: Partial<InfoMessage> = {}): InfoMessage {
  return {
    protocolVersion: PROTOCOL_VERSION, ready: true, bootId, maxPayload: 163840, firmwareVersion: 'fake', modelSha256: SHA,
    width: 2, height: 2, channels: 3, inputScale: 1, inputZeroPoint: 0, outputScale: 1 / 256, outputZeroPoint: -128,
    numClasses: 3, arenaUsedBytes: 0, status: '', labels: ['a', 'b', 'c'], ...over,
  };
}

/** A device that answers INFER with scores derived from the input; `drop` decides which requests it ignores. */
class FakeDevice implements Transport {
  readonly description = 'fake';
  private readonly dec = new FrameDecoder();
  private data: ((c: Uint8Array) => void)[] = [];
  private closeCbs: ((r: string) => void)[] = [];
  bootId = 1;
  seen: Frame[] = [];
  drop: (f: Frame, n: number) => boolean = () => false;
  version = PROTOCOL_VERSION;
  infoOverride: Partial<InfoMessage> = {};

  async write(bytes: Uint8Array): Promise<void> {
    for (const ev of this.dec.push(bytes)) {
      if (ev.kind !== 'frame') continue;
      const f = ev.frame;
      this.seen.push(f);
      if (this.drop(f, this.seen.length)) continue;
      setImmediate(() => this.answer(f));
    }
  }
  send(type: number, seq: number, payload: Uint8Array, version = this.version): void {
    const b = encodeFrame(type, seq, payload, version);
    for (const cb of this.data) cb(b);
  }
  private answer(f: Frame): void {
    if (this.version !== PROTOCOL_VERSION) {
      this.send(MsgType.ERROR, f.seq, encodeError({ code: ErrorCode.UNSUPPORTED_VERSION, text: `device speaks protocol version ${this.version}` }));
      return;
    }
    if (f.type === MsgType.HELLO) this.send(MsgType.INFO, f.seq, encodeInfo(info(this.bootId, this.infoOverride)));
    if (f.type === MsgType.INFER) {
      const s = Int8Array.of(f.payload[0]! << 24 >> 24, 0, -5);
      this.send(MsgType.RESULT, f.seq, encodeResult({ classIndex: s[0]! > 0 ? 0 : 1, invokeUs: 7, scores: s }));
    }
  }
  reboot(): void {
    this.bootId++;
    this.send(MsgType.INFO, SEQ_UNSOLICITED, encodeInfo(info(this.bootId, this.infoOverride)));
  }
  onData(cb: (c: Uint8Array) => void): void {
    this.data.push(cb);
  }
  onClose(cb: (r: string) => void): void {
    this.closeCbs.push(cb);
  }
  async close(): Promise<void> {
    for (const cb of this.closeCbs) cb('closed');
  }
}

const input = (v: number) => Int8Array.of(v, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

describe('SorterClient', () => {
  it('handshakes and keeps answers matched to requests under pipelining', async () => {
    const dev = new FakeDevice();
    const c = new SorterClient(dev, { timeoutMs: 500 });
    expect((await c.handshake(SHA)).labels).toEqual(['a', 'b', 'c']);
    const rs = await Promise.all([1, 2, 3, 4, 5].map((v) => c.infer(input(v))));
    expect(rs.map((r) => r.scores[0])).toEqual([1, 2, 3, 4, 5]);
  });

  it('resends a request whose frame was lost and fails after the retries are used up', async () => {
    const dev = new FakeDevice();
    const c = new SorterClient(dev, { timeoutMs: 50, retries: 2 });
    await c.handshake();
    let inferSeen = 0;
    dev.drop = (f) => f.type === MsgType.INFER && ++inferSeen === 1;
    expect((await c.infer(input(9))).scores[0]).toBe(9);
    expect(c.stats.retries).toBe(1);
    dev.drop = (f) => f.type === MsgType.INFER;
    await expect(c.infer(input(3))).rejects.toThrow(TimeoutError);
  });

  it('notices a device reset and resends what the device lost', async () => {
    const dev = new FakeDevice();
    const c = new SorterClient(dev, { timeoutMs: 5000 });
    await c.handshake(SHA);
    // The device "reboots" while holding two unanswered requests: they would only come back after
    // the 5 s timeout, so finishing quickly proves the resend on the boot announcement.
    dev.drop = (f) => f.type === MsgType.INFER && dev.bootId === 1;
    const pending = [c.infer(input(1)), c.infer(input(2))];
    await new Promise((r) => setTimeout(r, 20));
    dev.reboot();
    const t0 = Date.now();
    const rs = await Promise.all(pending);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(rs.map((r) => r.scores[0])).toEqual([1, 2]);
    expect(c.stats.resets).toBe(1);
  });

  it('refuses a rebooted device that now holds another model', async () => {
    const dev = new FakeDevice();
    const c = new SorterClient(dev, { timeoutMs: 5000 });
    await c.handshake(SHA);
    dev.drop = (f) => f.type === MsgType.INFER;
    const p = c.infer(input(1));
    dev.infoOverride = { modelSha256: 'cd'.repeat(32) };
    dev.reboot();
    await expect(p).rejects.toThrow(/not the model under test/);
  });

  it('refuses another protocol version and another model with one-line UserErrors', async () => {
    const old = new FakeDevice();
    old.version = 2;
    await expect(new SorterClient(old, { timeoutMs: 500 }).handshake(SHA)).rejects.toThrow(/another protocol version.*version 1/);
    const other = new FakeDevice();
    other.infoOverride = { modelSha256: 'cd'.repeat(32) };
    const e = await new SorterClient(other, { timeoutMs: 500 }).handshake(SHA).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).not.toContain('\n');
    const notReady = new FakeDevice();
    notReady.infoOverride = { ready: false, status: 'arena too small: needs 401408 bytes' };
    await expect(new SorterClient(notReady, { timeoutMs: 500 }).handshake()).rejects.toThrow(/arena too small/);
  });

  it('a silent line is a clear error, not a hang', async () => {
    const dev = new FakeDevice();
    dev.drop = () => true;
    await expect(new SorterClient(dev, { timeoutMs: 30, retries: 1 }).handshake()).rejects.toThrow(/no answer to HELLO/);
  });

  it('a device answering with the wrong message type or a malformed RESULT is a one-line UserError', async () => {
    const dev = new FakeDevice();
    const c = new SorterClient(dev, { timeoutMs: 500 });
    await c.handshake();
    dev.drop = (f) => {
      if (f.type === MsgType.INFER) setImmediate(() => dev.send(MsgType.PONG, f.seq, new Uint8Array(0)));
      return f.type === MsgType.INFER;
    };
    const wrongType = c.infer(input(1));
    await expect(wrongType).rejects.toBeInstanceOf(UserError);
    await expect(wrongType).rejects.toThrow(/fake: the device answered INFER with PONG; check that --port is the board's data port/);
    dev.drop = (f) => {
      if (f.type === MsgType.INFER) setImmediate(() => dev.send(MsgType.RESULT, f.seq, Uint8Array.of(1, 2)));
      return f.type === MsgType.INFER;
    };
    await expect(c.infer(input(2))).rejects.toThrow(/fake: the device sent a malformed RESULT/);
  });
});
