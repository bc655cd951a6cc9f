import pg from 'pg';

export interface Listening {
  end(): Promise<void>;
}

/**
 * LISTENs on `channel` on a connection of its own (outside the pools): `onNotify` runs for each
 * notification, `onLost` once when the connection fails or ends, after which the caller may listen
 * again. Rejects when it cannot connect or LISTEN.
 */
export async function listen(
  databaseUrl: string,
  channel: string,
  handlers: { onNotify(): void; onLost(error: unknown): void; applicationName?: string },
): Promise<Listening> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: handlers.applicationName ?? 'credits-listener',
  });
  let lost = false;
  const lose = (error: unknown) => {
    if (lost) return;
    lost = true;
    void client.end().catch(() => undefined);
    handlers.onLost(error);
  };
  client.on('notification', () => handlers.onNotify());
  client.on('error', (error) => lose(error));
  client.on('end', () => lose(undefined));
  try {
    await client.connect();
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  } catch (error) {
    lost = true;
    await client.end().catch(() => undefined);
    throw error;
  }
  return {
    end: async () => {
      lost = true;
      await client.end().catch(() => undefined);
    },
  };
}
