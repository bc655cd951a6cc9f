import type express from 'express';
import type { Request, Response } from 'express';
import { formFields, numberField, replied, submitRoute, textField } from '../form.js';
import { path, query } from '../html.js';
import type { UiKit } from '../kit.js';
import type { NoticeCode } from '../layout.js';
import { clientPage } from '../pages/clients.js';
import { captureConfirmPage, isConfirmed, releaseConfirmPage } from '../pages/confirm.js';
import { holdOf, holdRefusal } from '../pages/holds.js';

/** The notice of a capture or release the route answered: done (200) or still with its worker (202). */
function doneNotice(action: 'capture' | 'release', done: Record<string, unknown> | undefined): NoticeCode {
  if (!done) return action === 'capture' ? 'hold_capture_queued' : 'hold_release_queued';
  if (action === 'capture') return 'hold_captured';
  // a release of a hold past its expiry closes it as expired: its units went back when it ended, not now
  return done.status === 'expired' ? 'hold_expired' : 'hold_released';
}

/**
 * Capture or release an open hold from the client page. Each cannot be undone, so it asks first (confirm.ts);
 * then the API's own route does it — POST /v1/holds/{id}/capture (with the quantity typed, or none for all it
 * holds) or /release, through `submitRoute` as the signed-in admin key with the form's one-time key: the route
 * sends the closing to the hold's worker and waits for it, as the API does. Done, the client's page with its
 * notice; refused (409: the hold closed meanwhile; 422: a quantity the route refuses), the client's page again
 * with the route's reason in the page's language, the quantity as typed kept beside its field.
 */
export function holdActions(router: express.Router, kit: UiKit): void {
  const close = (action: 'capture' | 'release') => async (req: Request, res: Response) => {
    const ctx = kit.context(req, res);
    const hold = await holdOf(ctx, String(req.params.id ?? ''));
    if (!hold) {
      kit.notFound(req, res, 'error.no_hold');
      return;
    }
    const fields = formFields(req);
    if (!isConfirmed(fields)) {
      const ask = action === 'capture' ? captureConfirmPage : releaseConfirmPage;
      const confirmation = await ask(ctx, hold.id, fields);
      // null: the hold is closed or the quantity refused, nothing to confirm: the route answers as it would
      if (confirmation !== null) {
        if (confirmation) kit.send(res, 200, confirmation);
        else kit.notFound(req, res, 'error.no_hold');
        return;
      }
    }
    const quantity = action === 'capture' ? numberField(fields, 'quantity') : undefined;
    const outcome = await submitRoute(ctx, 'post', `/v1/holds/{id}/${action}`, {
      params: { id: hold.id },
      ...(quantity !== undefined ? { body: { quantity } } : {}),
      idem: textField(fields, 'idem'),
    });
    const done = replied(outcome, 200);
    if (done || replied(outcome, 202)) {
      res.redirect(303, `${path`/ui/clients/${hold.client.id}`}${query({ notice: doneNotice(action, done) })}`);
      return;
    }
    const refusal = holdRefusal(ctx, outcome, hold);
    const shown = await clientPage(ctx, hold.client.id, {
      hold: { holdId: hold.id, quantity: textField(fields, 'quantity') ?? '', refusal },
    });
    if (shown) kit.send(res, refusal.status, shown);
    else kit.notFound(req, res, 'error.no_client');
  };
  router.post('/holds/:id/capture', close('capture'));
  router.post('/holds/:id/release', close('release'));
}
