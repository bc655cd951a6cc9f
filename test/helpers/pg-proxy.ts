import net from 'node:net';
import pg from 'pg';

/** What an ambush did: the backend it terminated, and the bytes the client got in its one read. */
export interface Ambushed {
  backendPid: number;
  /** The message types of that read, in order (`Z` ReadyForQuery, `E` ErrorResponse). */
  types: string[];
}

interface Ambush {
  prefix: string;
  resolve(done: Ambushed): void;
  reject(error: unknown): void;
}

/** `application_name` of a StartupMessage (int32 length, int32 protocol, then name/value C strings). */
function applicationNameOf(startup: Buffer): string {
  if (startup.length < 8 || startup.readInt32BE(4) !== 196_608) return '';
  const pairs = startup.subarray(8, startup.readInt32BE(0)).toString('utf8').split('\0');
  for (let i = 0; i + 1 < pairs.length; i += 2) if (pairs[i] === 'application_name') return pairs[i + 1] ?? '';
  return '';
}

/** The type bytes of the whole messages in `data` (type byte, int32 length counting itself). */
function messageTypes(data: Buffer): string[] {
  const types: string[] = [];
  for (let at = 0; at + 5 <= data.length; at += 1 + data.readInt32BE(at + 1))
    types.push(String.fromCharCode(data[at]!));
  return types;
}

/**
 * A TCP proxy in front of Postgres that passes everything through, except for a connection it was
 * told to ambush: that connection's startup goes through up to the server's ReadyForQuery, which is
 * held back; the backend is then terminated (pg_terminate_backend, as a Postgres shutdown does to
 * every backend), and the ReadyForQuery reaches the client in one write together with the FATAL that
 * followed it — what a client busy for a moment reads when Postgres goes down just as it connects.
 */
export class PgProxy {
  private readonly server = net.createServer((client) => this.relay(client));
  private readonly ambushes: Ambush[] = [];
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    /** The Postgres server's URL (any database): where the proxy connects, and how it terminates backends. */
    private readonly serverUrl: string,
  ) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** `url` with the proxy in place of the server. */
  through(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  /** The next connection whose application_name starts with `prefix` is ambushed; resolves once it has been. */
  ambushNext(prefix: string): Promise<Ambushed> {
    return new Promise((resolve, reject) => this.ambushes.push({ prefix, resolve, reject }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const ambush of this.ambushes.splice(0)) ambush.reject(new Error('proxy closed before the ambush'));
  }

  private relay(client: net.Socket): void {
    const target = new URL(this.serverUrl);
    const upstream = net.connect({ host: target.hostname, port: Number(target.port || 5432) });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    let ambush: Ambush | undefined;
    let startupSeen = false;
    client.on('data', (chunk: Buffer) => {
      if (!startupSeen) {
        startupSeen = true;
        const name = applicationNameOf(chunk);
        const index = this.ambushes.findIndex((a) => name.startsWith(a.prefix));
        if (index >= 0) ambush = this.ambushes.splice(index, 1)[0];
      }
      upstream.write(chunk);
    });
    client.on('close', () => upstream.destroy());

    let startup = Buffer.alloc(0);
    let backendPid = 0;
    let held: Buffer[] | undefined;
    upstream.on('data', (chunk: Buffer) => {
      if (!ambush) {
        client.write(chunk);
        return;
      }
      if (held) {
        held.push(chunk);
        return;
      }
      // during the startup, whole messages go on one by one until the ReadyForQuery
      startup = Buffer.concat([startup, chunk]);
      let at = 0;
      while (at + 5 <= startup.length && at + 1 + startup.readInt32BE(at + 1) <= startup.length) {
        const type = String.fromCharCode(startup[at]!);
        if (type === 'K') backendPid = startup.readInt32BE(at + 5);
        if (type === 'Z') {
          held = [startup.subarray(at)];
          client.write(startup.subarray(0, at));
          void this.terminate(backendPid).catch((error: unknown) => {
            ambush?.reject(error);
            client.destroy();
            upstream.destroy();
          });
          return;
        }
        at += 1 + startup.readInt32BE(at + 1);
      }
    });
    upstream.on('close', () => {
      if (!ambush || !held) {
        client.end();
        return;
      }
      // the ReadyForQuery and the FATAL in one write, then the end of the connection
      const data = Buffer.concat(held);
      client.end(data);
      ambush.resolve({ backendPid, types: messageTypes(data) });
    });
  }

  private async terminate(backendPid: number): Promise<void> {
    const admin = new pg.Client({ connectionString: this.serverUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [backendPid]);
    } finally {
      await admin.end();
    }
  }
}
