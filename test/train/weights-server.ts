/** Test helper: a loopback (127.0.0.1) HTTP server standing in for the Keras weights host. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IMAGENET_H5 } from '../../host/train/backbone-cache.ts';

export type Behaviour = {
  body: Uint8Array;
  status?: number;
  /** Cut the connection after this many bytes of a request without Range. */
  cutAfter?: number;
  /** Answer a Range request with 206 but from half the asked offset (a misbehaving server or proxy). */
  wrongRange?: boolean;
};

/** Loopback server: serves `behaviour().body` at /IMAGENET_H5 with Range support; logs each request's Range. */
export class WeightsServer {
  requests: Array<{ url: string; range?: string }> = [];
  behaviour: Behaviour = { body: new Uint8Array() };
  private server: Server = createServer((req, res) => {
    this.requests.push({ url: req.url ?? '', range: req.headers.range });
    const { body, status, cutAfter } = this.behaviour;
    if (status || req.url !== `/keras/${IMAGENET_H5}`) {
      res.writeHead(status ?? 404, { 'content-type': 'text/plain' }).end('not here');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) start = this.behaviour.wrongRange ? Math.floor(Number(m[1]) / 2) : Number(m[1]);
    const headers = { 'content-length': String(body.length - start), etag: '"w1"', 'accept-ranges': 'bytes' };
    if (m) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    else res.writeHead(200, headers);
    if (cutAfter !== undefined && !m) {
      // A cut connection: part of the body, then the socket closes (after flushing what was written).
      res.write(body.subarray(0, cutAfter), () => res.socket?.end());
      return;
    }
    res.end(body.subarray(start));
  });
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
  }
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/keras/`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

