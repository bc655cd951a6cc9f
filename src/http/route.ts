import type { Request, Response } from 'express';
import type { ZodType, z } from 'zod';
import type { AppContext } from '../app-context.js';
import type { Executor } from '../db/knex.js';
import type { Failure } from '../domain/result.js';
import type { AuthContext, Scope } from './auth.js';

/** Who may call a route: a key with at least this scope, or anyone. */
export type Access = Scope | 'public';

export interface JsonReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A handler that writes the response itself (downloads, pages). */
export interface RawReply {
  raw: true;
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
  /** Null only on public routes. */
  auth: AuthContext | null;
  app: AppContext;
  /**
   * Where the handler's writes go: the idempotency transaction when the request carries an
   * Idempotency-Key (so the effect and its stored response commit together), else the pool.
   */
  db: Executor;
  /** The Idempotency-Key of the call (the header over HTTP; a form's one-time key in the pages). */
  idempotencyKey: string | undefined;
  /** Who called: a system over HTTP, or a person through a form of the pages. */
  origin: 'api' | 'ui';
  /** The concrete path called, e.g. `/v1/subscriptions/5f…/renew`. */
  path: string;
  /** Runs after the handler's writes are committed (enqueueing a job must never precede its commit). */
  afterCommit(action: () => Promise<void>): void;
}

export interface ResponseSpec {
  description: string;
  /** The body's schema (of its JSON media types); a problem status without one gets its default problem. */
  schema?: ZodType;
  /** Media types other than application/json (problems: application/problem+json); several when it varies. */
  contentType?: string | readonly string[];
}

export interface RouteSpec<P extends ZodType = ZodType, Q extends ZodType = ZodType, B extends ZodType = ZodType> {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** OpenAPI-style path: `/v1/clients/{id}`. */
  path: string;
  access: Access;
  summary: string;
  tag: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * `stored`: a creating POST whose response is stored and replayed for the same Idempotency-Key.
   * `job`: the key becomes the job's idempotency key; the handler enforces it.
   */
  idempotency?: 'stored' | 'job';
  responses: Record<number, ResponseSpec>;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<JsonReply | RawReply | Failure>;
}

/** Declares a route; the type parameters flow from the schemas into the handler. */
export function defineRoute<P extends ZodType = ZodType, Q extends ZodType = ZodType, B extends ZodType = ZodType>(
  spec: RouteSpec<P, Q, B>,
): RouteSpec<P, Q, B> {
  return spec;
}

/** Any route, for the table that registers, documents and audits them. */
/* biome-ignore lint/suspicious/noExplicitAny: a table of routes with different schemas; each one is checked where
   it is declared (defineRoute) */
export type AnyRoute = RouteSpec<any, any, any>;

export const expressPath = (openApiPath: string): string => openApiPath.replace(/\{(\w+)\}/g, ':$1');

/**
 * A call's own path: the route's with its parameters filled in (encoded). What an Idempotency-Key's identity names,
 * whether the call came over HTTP or from a page's form.
 */
export const concretePath = (openApiPath: string, params: Readonly<Record<string, unknown>>): string =>
  openApiPath.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(String(params[name] ?? '')));

export const isRawReply = (value: unknown): value is RawReply =>
  typeof value === 'object' && value !== null && (value as RawReply).raw === true;

export const isFailure = (value: unknown): value is Failure =>
  typeof value === 'object' && value !== null && (value as Failure).ok === false;
