import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verifySignature } from '../src/webhooks/signature.js';

export interface SeenDelivery {
  eventId: string;
  eventType: string;
  /** Requests that arrived for this delivery id with a valid signature. */
  received: number;
  /** Of those, how many were answered 2xx. */
  acknowledged: number;
}

/**
 * The chaos run's webhook endpoint: verifies each delivery's Standard Webhooks signature (and that the signed body is
 * the event the headers name), remembers every delivery id it saw and how often, and can be stalled:
 * while stalled it holds requests without answering (longer than WEBHOOK_TIMEOUT_MS, so the sender
 * gives up and retries), and answers the ones still open when it resumes.
 */
export class WebhookReceiver {
  readonly deliveries = new Map<string, SeenDelivery>();
  requests = 0;
  badSignatures = 0;
  mismatchedBodies = 0;
  heldWhileStalled = 0;
  private stalled = false;
  private held: Array<{ res: ServerResponse; deliveryId: string }> = [];
  private readonly server: Server;
  url = '';

  constructor(readonly secret: string) {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (typeof address === 'object' && address) this.url = `http://127.0.0.1:${address.port}/hooks`;
  }

  stall(): void {
    this.stalled = true;
  }

  /** Answers what is still open and takes requests normally again. */
  resume(): void {
    this.stalled = false;
    for (const { res, deliveryId } of this.held.splice(0)) this.answer(res, deliveryId);
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  /** Distinct delivery ids seen, and how many requests repeated one already seen. */
  get duplicates(): number {
    let n = 0;
    for (const d of this.deliveries.values()) n += Math.max(0, d.received - 1);
    return n;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const value = req.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      const check = verifySignature(
        this.secret,
        { id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature') },
        body,
      );
      if (!check.ok) {
        this.badSignatures += 1;
        res.statusCode = 400;
        res.end();
        return;
      }
      const deliveryId = String(req.headers['credits-delivery-id'] ?? '');
      const eventId = String(req.headers['credits-event-id'] ?? '');
      const eventType = String(req.headers['credits-event-type'] ?? '');
      let payload: { id?: string; type?: string } = {};
      try {
        payload = JSON.parse(body) as { id?: string; type?: string };
      } catch {
        // counted below
      }
      if (payload.id !== eventId || payload.type !== eventType) this.mismatchedBodies += 1;
      const seen = this.deliveries.get(deliveryId);
      if (seen) seen.received += 1;
      else this.deliveries.set(deliveryId, { eventId, eventType, received: 1, acknowledged: 0 });
      if (this.stalled) {
        this.heldWhileStalled += 1;
        this.held.push({ res, deliveryId });
        return;
      }
      this.answer(res, deliveryId);
    });
  }

  private answer(res: ServerResponse, deliveryId: string): void {
    if (res.destroyed || res.socket?.destroyed) return;
    res.statusCode = 200;
    res.end();
    const seen = this.deliveries.get(deliveryId);
    if (seen) seen.acknowledged += 1;
  }
}
