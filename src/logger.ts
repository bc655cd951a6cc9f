import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Secrets must never reach a log line: API keys travel in Authorization headers,
 * webhook secrets in endpoint bodies, passwords in connection strings.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'password',
  'secret',
  'key',
  'api_key',
  '*.secret',
  '*.password',
  '*.api_key',
  'body.secret',
  'databaseUrl',
  'redisUrl',
];

export function createLogger(level: string, name = 'credits', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
