import type { AnyRoute } from '../route.js';
import { adminRoutes } from './admin.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditRoutes } from './audit.js';
import { balanceRoutes } from './balances.js';
import { clientRoutes } from './clients.js';
import { consumptionRoutes } from './consumptions.js';
import { creditTypeRoutes } from './credit-types.js';
import { holdRoutes } from './holds.js';
import { invoiceRoutes } from './invoices.js';
import { packageRoutes } from './packages.js';
import { reportRoutes } from './reports.js';
import { subscriptionRoutes } from './subscriptions.js';
import { systemRoutes } from './system.js';
import { webhookRoutes } from './webhooks.js';

/** The whole route table: what the app mounts, what /openapi.json documents, what the auth audit walks. */
export function allRoutes(): AnyRoute[] {
  const routes: AnyRoute[] = [];
  routes.push(
    ...systemRoutes(() => routes),
    ...creditTypeRoutes,
    ...packageRoutes,
    ...clientRoutes,
    ...subscriptionRoutes,
    ...invoiceRoutes,
    ...consumptionRoutes,
    ...holdRoutes,
    ...balanceRoutes,
    ...webhookRoutes,
    ...adminRoutes,
    ...reportRoutes,
    ...apiKeyRoutes,
    ...auditRoutes,
  );
  return routes;
}
