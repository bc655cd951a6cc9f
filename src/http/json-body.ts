import { AsyncResource } from 'node:async_hooks';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { parse } from 'lossless-json';
import { bodyLimitBytes } from '../config.js';
import { isExactNumberText, plainDecimal } from '../domain/exact-number.js';
import { problemBody, sendProblem } from './problem.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const E_LOWER = 0x65;
const E_UPPER = 0x45;

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;

/** Whether the quote at `at` is escaped (preceded by an odd number of backslashes). */
function isEscaped(bytes: Buffer, at: number): boolean {
  let backslashes = 0;
  for (let k = at - 1; k >= 0 && bytes[k] === BACKSLASH; k -= 1) backslashes += 1;
  return backslashes % 2 === 1;
}

/**
 * The cheap scan that keeps JSON.parse for nearly every body: outside strings (skipped with the
 * native indexOf), does a number carry more than 15 digits, or an exponent? Only then may a double
 * not hold it exactly (domain/exact-number.ts), and the body is read again from its text. A false
 * alarm costs one slower parse, never a wrong value.
 */
export function mayHoldInexactNumber(bytes: Buffer): boolean {
  let digits = 0;
  for (let i = 0; i < bytes.length; i += 1) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      let end = bytes.indexOf(QUOTE, i + 1);
      while (end > 0 && isEscaped(bytes, end)) end = bytes.indexOf(QUOTE, end + 1);
      if (end < 0) return false; // not JSON: the parser says so
      i = end;
      digits = 0;
    } else if (c >= ZERO && c <= NINE) {
      digits += 1;
      if (digits > 15) return true;
    } else if ((c === E_LOWER || c === E_UPPER) && isDigit(bytes[i - 1])) {
      return true;
    } else if (c !== DOT) {
      digits = 0;
    }
  }
  return false;
}

/**
 * Every number as JSON.parse would give it, except one a double cannot hold exactly: that one is
 * handed on as its exact decimal text (the quantity and money schemas take strings; a field that
 * wants a number refuses it with 422). Duplicate keys keep the last value, as JSON.parse does.
 */
export const parseExactJson = (text: string): unknown =>
  parse(text, null, {
    parseNumber: (token) => (isExactNumberText(token) ? Number(token) : plainDecimal(token)),
    onDuplicateKey: ({ newValue }) => newValue,
  });

/** The body's text in its charset (express.json accepts only UTF-8, UTF-16 and UTF-32). */
function textOf(bytes: Buffer, charset: string): string | undefined {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    // a charset TextDecoder lacks (UTF-32): express.json's own reading stands or refuses it
    return undefined;
  }
}

/** Raw text of the bodies the scan flagged, from express.json's `verify` to the second reading. */
const flagged = new WeakMap<IncomingMessage, string>();

/** The body of nearly every API call: JSON in UTF-8, its length given, not compressed. */
const PLAIN_JSON = /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i;
/** What the plain reader takes at most: larger bodies go through express.json. */
const PLAIN_MAX_BYTES = 64 * 1024;

/** An error as body-parser raises it (app.ts's error handler reads `type`, `status` and `expose`). */
const bodyError = (message: string, status: number, type: string): Error =>
  Object.assign(new Error(message), { status, statusCode: status, expose: true, type });

/**
 * A body declared UTF-8 whose bytes are not (app.ts answers 422): decoded, each bad byte would become U+FFFD and be
 * stored so — and two bodies that differ only there would be one request to idempotency.
 */
const notUtf8 = (): Error => bodyError('the body is not well-formed UTF-8', 400, 'entity.encoding.invalid');

/** A body being read by plainJson: on the request itself, read by the module's handlers below. */
interface Reading {
  length: number;
  received: number;
  chunks: Buffer[];
  resource: AsyncResource;
  proceed: NextFunction;
}

const READING = Symbol('credits.jsonBody.reading');
type ReadingRequest = IncomingMessage & { [READING]?: Reading; body?: unknown };

// The handlers are the module's, not closures made per request: the service runs under tsx, whose
// esbuild transform names every named closure with Object.defineProperty as it is made (about a
// microsecond each, six per request here). The request is `this`; its reading hangs on READING.

/** Goes on in the request's async context (its trace span), not the socket's, as raw-body sees to. */
function proceedWith(reading: Reading, error?: unknown): void {
  reading.resource.runInAsyncScope(reading.proceed, null, error);
}

function stopReading(req: ReadingRequest): Reading {
  const reading = req[READING]!;
  req[READING] = undefined;
  req.off('data', onBodyData);
  req.off('end', onBodyEnd);
  req.off('error', onBodyError);
  req.off('close', onBodyClose);
  return reading;
}

function onBodyData(this: ReadingRequest, chunk: Buffer): void {
  const reading = this[READING]!;
  reading.chunks.push(chunk);
  reading.received += chunk.length;
}

function onBodyError(this: ReadingRequest, error: Error): void {
  const reading = stopReading(this);
  proceedWith(reading, Object.assign(bodyError(error.message, 400, 'request.aborted'), { cause: error }));
}

function onBodyClose(this: ReadingRequest): void {
  const reading = stopReading(this);
  proceedWith(reading, bodyError('request aborted', 400, 'request.aborted'));
}

function onBodyEnd(this: ReadingRequest): void {
  const reading = stopReading(this);
  const { chunks, received, length } = reading;
  if (received !== length) {
    proceedWith(reading, bodyError('request size did not match content length', 400, 'request.size.invalid'));
    return;
  }
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
  if (!isUtf8(bytes)) {
    proceedWith(reading, notUtf8());
    return;
  }
  let text = bytes.toString('utf8');
  // iconv-lite (express.json) drops a byte order mark
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    this.body = JSON.parse(text);
  } catch (error) {
    proceedWith(
      reading,
      Object.assign(bodyError((error as Error).message, 400, 'entity.parse.failed'), { body: text }),
    );
    return;
  }
  if (mayHoldInexactNumber(bytes)) flagged.set(this, text);
  proceedWith(reading);
}

/**
 * The plain case of express.json, read without its machinery (type-is, content-type, raw-body,
 * iconv-lite: about a tenth of the api's CPU per accepted request): a body declared
 * `application/json` (charset UTF-8 or none), with a Content-Length from 1 byte up to the limit, and
 * no Content-Encoding nor Transfer-Encoding. It answers as express.json does — the same value (a
 * UTF-8 BOM dropped, any JSON value accepted), the same error types for a body that is not JSON or
 * a request cut off — and flags a body for the exact second reading the same way. Every other request
 * goes to express.json.
 */
function plainJson(limit: number, fallback: RequestHandler): RequestHandler {
  return function jsonParser(req: Request, res: Response, proceed: NextFunction): void {
    const headers = req.headers;
    const declared = headers['content-length'];
    const type = headers['content-type'];
    if (
      declared === undefined ||
      type === undefined ||
      headers['content-encoding'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      !/^[1-9]\d{0,8}$/.test(declared) ||
      Number(declared) > limit ||
      !PLAIN_JSON.test(type) ||
      req.readableEnded ||
      !req.socket?.readable
    ) {
      fallback(req, res, proceed);
      return;
    }
    // the rest of the request runs in this one's async context (its trace span), not the socket's,
    // as raw-body sees to for express.json (and as cheaply: AsyncResource.bind makes two deprecation
    // wrappers per call)
    (req as ReadingRequest)[READING] = {
      length: Number(declared),
      received: 0,
      chunks: [],
      resource: new AsyncResource('credits.jsonBody'),
      proceed,
    };
    req.on('data', onBodyData);
    req.on('end', onBodyEnd);
    req.on('error', onBodyError);
    req.on('close', onBodyClose);
  };
}

/**
 * The JSON body parser: express.json (its plain case read more cheaply: plainJson), then — only for
 * a body whose raw text holds a number a double would round — the same body read again keeping
 * those numbers' text.
 */
export function jsonBody(limit: string): RequestHandler[] {
  // in bytes, as config.ts validated it: body-parser reads a text its own way ("2m" as 2 bytes)
  const bytes = bodyLimitBytes(limit);
  const parser = express.json({
    ...(bytes === undefined ? { limit } : { limit: bytes }),
    strict: false,
    type: ['application/json', 'application/*+json'],
    verify: (req, _res, buf, encoding) => {
      const utf8 = !encoding || /^utf-?8$/i.test(encoding);
      // thrown here, body-parser hands it on with its type (entity.encoding.invalid)
      if (utf8 && !isUtf8(buf)) throw notUtf8();
      // the scan reads UTF-8 bytes; a body in another charset (rare) is always read again
      if (utf8 && !mayHoldInexactNumber(buf)) return;
      const text = textOf(buf, utf8 ? 'utf-8' : encoding);
      if (text !== undefined) flagged.set(req, text);
    },
  });
  return [
    bytes === undefined ? parser : plainJson(Math.min(bytes, PLAIN_MAX_BYTES), parser),
    function exactNumbers(req: Request, res: Response, next: NextFunction): void {
      const text = flagged.get(req);
      if (text === undefined) {
        next();
        return;
      }
      flagged.delete(req);
      try {
        req.body = parseExactJson(text);
      } catch (error) {
        // JSON.parse read it: a body nested too deeply for the second, recursive reading (no bound of
        // ours allows such depth), refused rather than read with its long numbers rounded
        req.log?.info({ err: error }, 'request refused: the body could not be read again exactly');
        const message = 'is nested too deeply to be read with its long numbers kept exact';
        sendProblem(res, problemBody('validation_failed', `the body ${message}`, [{ field: '(body)', message }]));
        return;
      }
      next();
    },
  ];
}
