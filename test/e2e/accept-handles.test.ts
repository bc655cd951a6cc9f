import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { duplicateListeners } from '../../src/http/accept-handles.js';
import { startTestApp } from '../helpers/app.js';

/**
 * The API's port has HTTP_ACCEPT_HANDLES listening handles (src/http/accept-handles.ts): a busy process takes up that
 * many new connections per event-loop iteration instead of node 20's one, and every one of them is the HTTP server's
 * own — answered, drained and closed with it.
 */

/** Opens `n` connections at once, each sending one request; answers the status line of each answer. */
function burst(port: number, n: number, path = '/healthz'): Promise<string[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<string>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () =>
            socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
          );
          let text = '';
          socket.on('data', (chunk) => {
            text += chunk.toString('latin1');
          });
          socket.on('end', () => resolve(text.split('\r\n')[0] ?? ''));
          socket.on('error', reject);
        }),
    ),
  );
}

const refused = (port: number) =>
  new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });

describe('several handles on one listening socket', () => {
  it('take up several connections in one busy iteration, where one handle takes one', async () => {
    const takenPerIteration = async (handles: number) => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const extra = await duplicateListeners(server, handles - 1);
      let iteration = 0;
      let spinning = true;
      const perIteration = new Map<number, number>();
      let taken = 0;
      const all = new Promise<void>((resolve) => {
        const onConnection = (socket: net.Socket) => {
          perIteration.set(iteration, (perIteration.get(iteration) ?? 0) + 1);
          socket.destroy();
          taken += 1;
          if (taken === 60) resolve();
        };
        for (const s of [server, ...extra]) s.on('connection', onConnection);
      });
      // each iteration kept busy 2 ms, as a loaded api's are: the connections wait in the kernel's accept queue
      const spin = () => {
        const start = performance.now();
        while (performance.now() - start < 2);
        iteration += 1;
        if (spinning) setImmediate(spin);
      };
      setImmediate(spin);
      const { port } = server.address() as net.AddressInfo;
      for (let i = 0; i < 60; i += 1) net.connect(port, '127.0.0.1').on('error', () => {});
      await all;
      spinning = false;
      for (const s of [server, ...extra]) s.close();
      return Math.max(...perIteration.values());
    };
    expect(await takenPerIteration(1)).toBe(1);
    const most = await takenPerIteration(4);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
  });

  it('the API answers every connection of a burst, and once closed no handle of its port takes another', async () => {
    // the default's handles (the tests' own config asks for one)
    const app = await startTestApp({
      roles: ['api'],
      env: { HTTP_ACCEPT_HANDLES: String(loadConfig({}).HTTP_ACCEPT_HANDLES) },
    });
    const port = Number(new URL(app.baseUrl).port);
    const answers = await burst(port, 200);
    expect(new Set(answers)).toEqual(new Set(['HTTP/1.1 200 OK']));
    await app.close();
    // sixteen handles were listening: each was closed with the server
    expect(await refused(port)).toBe('ECONNREFUSED');
  });

  it('HTTP_ACCEPT_HANDLES=1 is node’s own single handle', async () => {
    const app = await startTestApp({ roles: ['api'], env: { HTTP_ACCEPT_HANDLES: '1' } });
    const port = Number(new URL(app.baseUrl).port);
    expect(new Set(await burst(port, 20))).toEqual(new Set(['HTTP/1.1 200 OK']));
    await app.close();
    expect(await refused(port)).toBe('ECONNREFUSED');
  });
});
