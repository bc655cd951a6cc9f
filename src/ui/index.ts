import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { AppContext } from '../app-context.js';
import { reportRunById } from '../db/repositories/reports.js';
import { subscriptionById } from '../db/repositories/subscriptions.js';
import { DomainError } from '../domain/result.js';
import { requireAdmin } from '../http/admin-auth.js';
import type { ExtraMount } from '../http/app.js';
import { isUnavailable } from '../http/app.js';
import type { AuthContext } from '../http/auth.js';
import { KeyCheckThrottled } from '../http/unknown-key-throttle.js';
import { isUuid } from '../ids.js';
import { sendReportDownload } from '../reports/service.js';
import { adminActions } from './actions/admin.js';
import { commerceActions } from './actions/commerce.js';
import { holdActions } from './actions/holds.js';
import { setupActions } from './actions/setup.js';
import { fieldErrorsOf, formFields, integerField, oneTimeKey, submitRoute, textField } from './form.js';
import { type Html, path, query } from './html.js';
import { translator } from './i18n/catalog.js';
import { formatters } from './i18n/format.js';
import { preferencesOf } from './i18n/locale.js';
import { CATALOG, type MessageKey } from './i18n/messages/index.js';
import type { UiKit } from './kit.js';
import { send, type UiContext } from './layout.js';
import { clientPage, clientsPage } from './pages/clients.js';
import { invoicingConfirmPage, isConfirmed } from './pages/confirm.js';
import { loginPage, messagePage } from './pages/login.js';
import { overviewPage } from './pages/overview.js';
import { packagePage, packagesPage } from './pages/packages.js';
import { notReady, reportsPage, runReportFromForm } from './pages/reports.js';
import { webhooksPage } from './pages/webhooks.js';
import { freezeMessage } from './refusals.js';
import {
  clearCookie,
  closeSession,
  csrfToken,
  keyViewer,
  LOGIN_COOKIE,
  openSession,
  randomToken,
  readCookie,
  sameToken,
  sessionViewer,
  setCookie,
  type Viewer,
} from './session.js';
import { UI_CSS } from './style.js';

/** The refusal of a list's `cursor` that this service did not give out (db/pagination.ts). */
const isCursorRefusal = (error: unknown): boolean =>
  error instanceof DomainError && (error.failure.errors ?? []).some((e) => e.field === 'cursor');

export const UI_PATH = '/ui';
const LOGIN_PATH = '/ui/login';

/** Only a page of /ui is a place to go back to after the login (never another site). */
const safeNext = (value: unknown): string =>
  typeof value === 'string' &&
  /^\/ui(\/[\w\-./%?=&]*)?$/.test(value) &&
  !value.includes('//') &&
  !/\/\.\.?(\/|\?|$)/.test(value) &&
  !/%2e/i.test(value)
    ? value
    : UI_PATH;

const viewerOf = (res: Response): Viewer => {
  const viewer = res.locals.viewer as Viewer | undefined;
  if (!viewer) throw new Error('a /ui page was reached without a viewer');
  return viewer;
};

/** The viewer's language, translator and formatters (kept in res.locals: worked out once per request). */
function localeOf(app: AppContext, req: Request, res: Response): Pick<UiContext, 'locale' | 't' | 'fmt'> {
  const known = res.locals.uiLocale as Pick<UiContext, 'locale' | 't' | 'fmt'> | undefined;
  if (known) return known;
  const { locale, calendar } = preferencesOf(req, res);
  const made = {
    locale,
    t: translator(locale, CATALOG),
    fmt: formatters(locale, calendar, app.config.BUSINESS_TZ),
  };
  res.locals.uiLocale = made;
  return made;
}

const contextOf = (app: AppContext, req: Request, res: Response): UiContext => {
  const viewer = viewerOf(res);
  return { app, req, res, viewer, csrf: csrfToken(viewer), ...localeOf(app, req, res) };
};

const formBody = (req: Request): Record<string, unknown> =>
  req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};

/**
 * The display windows (DOMAIN.md, issue 5): server-rendered pages behind an admin key — the login
 * form's session, or the key itself as HTTP Basic / Bearer. Every value is escaped (html.ts),
 * every form carries a CSRF token tied to the session, and the CSP allows nothing but this origin.
 * The pages read through the same services and report queries as the API.
 */
export function uiRouter(app: AppContext): express.Router {
  const router = express.Router();
  router.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          imgSrc: ["'self'"],
          styleSrc: ["'self'"],
          scriptSrc: ["'self'"],
          fontSrc: ["'self'"],
        },
      },
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  router.use(express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 50 }));

  router.get('/assets/ui.css', (_req, res) => {
    res.set({ 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }).send(UI_CSS);
  });

  const showLogin = (req: Request, res: Response, status: number, error?: MessageKey) => {
    const token = randomToken();
    setCookie(req, res, LOGIN_COOKIE, token, { path: LOGIN_PATH, maxAgeS: 3600 });
    send(
      res,
      status,
      loginPage(localeOf(app, req, res), {
        csrf: token,
        next: safeNext(req.query.next ?? formBody(req).next),
        ...(error ? { error } : {}),
      }),
    );
  };

  router.get('/login', async (req, res) => {
    if (await sessionViewer(app, req)) {
      res.redirect(303, safeNext(req.query.next));
      return;
    }
    showLogin(req, res, 200);
  });

  router.post('/login', async (req, res) => {
    const body = formBody(req);
    const expected = readCookie(req, LOGIN_COOKIE);
    if (!expected || !sameToken(body.csrf, expected)) {
      showLogin(req, res, 403, 'login.expired');
      return;
    }
    const key = typeof body.key === 'string' ? body.key.trim() : '';
    let auth: AuthContext | null;
    try {
      auth = key ? await app.keys.verify(key, () => req.ip) : null;
    } catch (error) {
      if (!(error instanceof KeyCheckThrottled)) throw error;
      res.setHeader('retry-after', String(error.retryAfterS));
      showLogin(req, res, 429, 'login.throttled');
      return;
    }
    if (!auth?.scopes.includes('admin')) {
      showLogin(req, res, 401, auth ? 'login.not_admin' : 'login.invalid');
      return;
    }
    await openSession(app, req, res, auth.keyId);
    clearCookie(req, res, LOGIN_COOKIE, LOGIN_PATH);
    res.redirect(303, safeNext(body.next));
  });

  const adminGuard = requireAdmin(app, { loginPath: LOGIN_PATH });
  router.use(async (req, res, next) => {
    const viewer = (await sessionViewer(app, req)) ?? (await keyViewer(app, req));
    if (viewer) {
      res.locals.viewer = viewer;
      next();
      return;
    }
    // neither: the shared admin guard sends a browser to the login form, anything else a 401/403
    await adminGuard(req, res, next);
  });

  // Every form posts its CSRF token; a browser also says where the form came from.
  router.post(/.*/, (req, res, next) => {
    const origin = req.get('origin');
    const sameOrigin = origin === undefined || origin === `${req.protocol}://${req.get('host') ?? ''}`;
    if (!sameOrigin || !sameToken(formBody(req).csrf, csrfToken(viewerOf(res)))) {
      send(res, 403, messagePage(localeOf(app, req, res), 'error.form_expired_title', 'error.form_expired'));
      return;
    }
    next();
  });

  const pageRoute =
    (render: (ctx: UiContext) => Promise<Html | undefined>, missing: MessageKey = 'error.nothing_here') =>
    async (req: Request, res: Response) => {
      let body: Html | undefined;
      try {
        body = await render(contextOf(app, req, res));
      } catch (error) {
        // a "next page" link edited or kept from elsewhere: its list from the start, not a 500
        if (!isCursorRefusal(error) || req.query.cursor === undefined) throw error;
        const first = new URL(req.originalUrl, 'http://ui.invalid');
        first.searchParams.delete('cursor');
        res.redirect(303, `${first.pathname}${first.search}`);
        return;
      }
      if (body) send(res, 200, body);
      else send(res, 404, messagePage(localeOf(app, req, res), 'error.not_found_title', missing));
    };

  router.post('/logout', async (req, res) => {
    await closeSession(app, req, res);
    res.redirect(303, LOGIN_PATH);
  });

  const kit: UiKit = {
    context: (req, res) => contextOf(app, req, res),
    pageRoute,
    send,
    notFound: (req, res, message) =>
      send(res, 404, messagePage(localeOf(app, req, res), 'error.not_found_title', message)),
  };
  // the operator's actions, one module per part of the back office
  setupActions(router, kit);
  commerceActions(router, kit);
  holdActions(router, kit);
  adminActions(router, kit);

  router.get('/', pageRoute(overviewPage));
  router.get('/clients', pageRoute(clientsPage));
  router.get('/clients/:ref', async (req, res) =>
    pageRoute((ctx) => clientPage(ctx, String(req.params.ref)), 'error.no_client')(req, res),
  );
  router.get('/packages', pageRoute(packagesPage));
  router.get('/packages/:ref', async (req, res) =>
    pageRoute((ctx) => packagePage(ctx, String(req.params.ref)), 'error.no_package')(req, res),
  );

  /**
   * Renew, recharge, freeze and unfreeze a subscription from the client page: each calls its API route
   * (submitRoute), waiting for a queued job's result as `?wait=true` does, then goes back to the client.
   */
  const subscriptionAction =
    (action: 'renew' | 'recharge' | 'freeze' | 'unfreeze') => async (req: Request, res: Response) => {
      const id = String(req.params.id);
      const subscription = isUuid(id) ? await subscriptionById(app.db, id) : undefined;
      if (!subscription) {
        send(res, 404, messagePage(localeOf(app, req, res), 'error.not_found_title', 'error.no_subscription'));
        return;
      }
      const ctx = contextOf(app, req, res);
      const fields = formFields(req);
      const days = integerField(fields, 'days');
      const queued = action === 'renew' || action === 'recharge';
      // each issues an invoice: asked first, unless sent from that page's button or there is nothing to ask
      if (queued && !isConfirmed(fields)) {
        const confirmation = await invoicingConfirmPage(ctx, action, subscription.id, fields);
        if (confirmation) {
          send(res, 200, confirmation);
          return;
        }
      }
      const outcome = await submitRoute(ctx, 'post', `/v1/subscriptions/{id}/${action}`, {
        params: { id: subscription.id },
        ...(queued ? { query: { wait: 'true' } } : {}),
        ...(action === 'freeze' && days !== undefined ? { body: { days } } : {}),
        // a double click or a reload acts once, and the second answer is the first one's (the form's one-time key):
        // one renewal or recharge invoiced, and a freeze sent twice still says "frozen", not "could not be frozen"
        idem: textField(fields, 'idem') ?? oneTimeKey(),
      });
      // days the route refused (beyond the package's allowance, not a number): the client's page again, the
      // days as typed kept in the form and the route's reason beside them, in the page's language
      if (action === 'freeze') {
        const errors = new Map(
          [...fieldErrorsOf(outcome)].map(([field, message]) => [field, freezeMessage(ctx, message)]),
        );
        const invalid =
          outcome.kind === 'invalid' || (outcome.kind === 'failure' && outcome.failure.code === 'validation_failed');
        if (invalid && errors.has('days')) {
          const days = textField(fields, 'days') ?? '';
          const shown = await clientPage(ctx, subscription.client_id, {
            freeze: { subscriptionId: subscription.id, days, errors },
          });
          if (shown) {
            send(res, 422, shown);
            return;
          }
        }
      }
      const done = { renew: 'renewed', recharge: 'recharged', freeze: 'frozen', unfreeze: 'unfrozen' }[action];
      let notice: { notice: string; code?: string };
      if (outcome.kind === 'reply') notice = { notice: outcome.reply.status === 202 ? `${action}_queued` : done };
      else if (outcome.kind === 'failure') notice = { notice: `${action}_failed`, code: outcome.failure.code };
      else notice = { notice: `${action}_failed`, code: 'validation_failed' };
      res.redirect(303, `${path`/ui/clients/${subscription.client_id}`}${query(notice)}`);
    };
  router.post('/subscriptions/:id/freeze', subscriptionAction('freeze'));
  router.post('/subscriptions/:id/unfreeze', subscriptionAction('unfreeze'));
  router.post('/subscriptions/:id/renew', subscriptionAction('renew'));
  router.post('/subscriptions/:id/recharge', subscriptionAction('recharge'));

  router.get('/webhooks', pageRoute(webhooksPage));
  router.post('/webhooks/:id/enable', async (req, res) => {
    const id = String(req.params.id);
    const outcome = isUuid(id)
      ? await submitRoute(contextOf(app, req, res), 'post', '/v1/webhook-endpoints/{id}/enable', { params: { id } })
      : undefined;
    const notice =
      outcome?.kind === 'reply'
        ? { notice: 'enabled' }
        : { notice: 'enable_failed', code: outcome?.kind === 'failure' ? outcome.failure.code : 'not_found' };
    res.redirect(303, `/ui/webhooks${query(notice)}`);
  });

  router.get('/reports', pageRoute(reportsPage));
  router.post('/reports', async (req, res) => {
    const ctx = contextOf(app, req, res);
    const outcome = await runReportFromForm(ctx, formBody(req));
    if (outcome.ok) {
      res.redirect(303, `/ui/reports${query({ notice: 'report_queued' })}`);
      return;
    }
    const { form, errors, failure } = outcome;
    send(res, 422, await reportsPage(ctx, { form, errors, ...(failure ? { failure } : {}) }));
  });
  router.get('/reports/:id/download', async (req, res) => {
    const id = String(req.params.id);
    const run = isUuid(id) ? await reportRunById(app.db, id) : undefined;
    if (!run) {
      send(res, 404, messagePage(localeOf(app, req, res), 'error.not_found_title', 'error.no_report', '/ui/reports'));
      return;
    }
    const where = localeOf(app, req, res);
    const why = notReady(where, run);
    if (why) {
      send(res, 409, messagePage(where, 'error.not_ready_title', why, '/ui/reports'));
      return;
    }
    await sendReportDownload(app, run, res);
  });

  router.use((req: Request, res: Response) => {
    send(res, 404, messagePage(localeOf(app, req, res), 'error.not_found_title', 'error.not_found'));
  });
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof URIError) {
      // a path the router could not decode (`/ui/clients/%ZZ`) names no page and nothing on one
      send(res, 404, messagePage(localeOf(app, req, res), 'error.not_found_title', 'error.not_found'));
      return;
    }
    if (error instanceof KeyCheckThrottled) {
      // a key sent with the request (HTTP Basic, Bearer) from an address that has sent too many unknown ones
      res.setHeader('retry-after', String(error.retryAfterS));
      send(res, 429, messagePage(localeOf(app, req, res), 'error.throttled_title', 'login.throttled'));
      return;
    }
    const unavailable = isUnavailable(error);
    req.log?.[unavailable ? 'warn' : 'error']({ err: error }, 'a /ui page failed');
    send(
      res,
      unavailable ? 503 : 500,
      messagePage(
        localeOf(app, req, res),
        unavailable ? 'error.unavailable_title' : 'error.internal_title',
        unavailable ? 'error.unavailable' : localeOf(app, req, res).t('error.internal', { request: String(req.id) }),
      ),
    );
  });
  return router;
}

/** /ui as one of the server's extra mounts (src/http/server.ts). */
export function uiMount(app: AppContext): ExtraMount {
  return {
    path: UI_PATH,
    access: 'admin',
    description:
      'Display windows: overview, clients, packages, reports (admin key: login form session, HTTP Basic or ' +
      'Bearer; the login form and the stylesheet are public)',
    mount: (express) => {
      express.use(UI_PATH, uiRouter(app));
    },
  };
}
