import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * A local webhook receiver on 127.0.0.1: it answers with the statuses it is given, in order, then 200
 * (or a redirect to `location` when set), and keeps what it received.
 */
export class Receiver {
  readonly received: Received[] = [];
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];
  statuses: number[] = [];
  location: string | undefined;
  server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.statusCode = this.statuses.shift() ?? (this.location ? 307 : 200);
        if (this.location) res.setHeader('location', this.location);
        res.end();
        for (const w of this.waiters.filter((w) => this.received.length >= w.count)) w.resolve();
      });
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (typeof address === 'object' && address) this.url = `http://127.0.0.1:${address.port}/hooks`;
  }

  /** Resolves when `count` requests have arrived (the receiver's own event, no sleeping). */
  until(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  stop(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}
