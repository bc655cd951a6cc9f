import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  /** When it arrived (Date.now()). */
  at: number;
  /** What `look` read before the receiver answered, when it was given one. */
  seen?: unknown;
}

/**
 * A local webhook receiver on 127.0.0.1: it answers with the statuses it is given, in order, then `status` (200 by
 * default; a redirect to `location` when set), and keeps what it received. With `look`, each answer waits on it
 * first (a read of the database as the attempt before this one left it), and keeps what it read.
 */
export class Receiver {
  readonly received: Received[] = [];
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];
  statuses: number[] = [];
  status = 200;
  location: string | undefined;
  look: ((headers: IncomingMessage['headers']) => Promise<unknown>) | undefined;
  server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const at = Date.now();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const seen = this.look ? await this.look(req.headers) : undefined;
          const body = Buffer.concat(chunks).toString('utf8');
          this.received.push({ headers: req.headers, body, at, ...(this.look ? { seen } : {}) });
          res.statusCode = this.statuses.shift() ?? (this.location ? 307 : this.status);
          if (this.location) res.setHeader('location', this.location);
          res.end();
          for (const w of this.waiters.filter((w) => this.received.length >= w.count)) w.resolve();
        })();
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
