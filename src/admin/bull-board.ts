import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express, NextFunction, Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { requireAdmin } from '../http/admin-auth.js';
import type { ExtraMount } from '../http/app.js';
import { problemBody, sendProblem } from '../http/problem.js';
import { QUEUE_NAMES } from '../queue/names.js';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * The board's one POST (add a job) must be JSON, as its own page sends it. A browser that signed in to the board with
 * HTTP Basic sends the credentials again by itself, with a form posted from any site; such a form can send only
 * text/plain, urlencoded or multipart bodies (JSON from another site needs a preflight, never granted here), which the
 * board read as an empty job and added to the queue. Its PUT and PATCH actions need a preflight already.
 */
function jsonPostsOnly(req: Request, res: Response, next: NextFunction): void {
  if (req.method !== 'POST' || /^application\/json\s*(;|$)/i.test(req.get('content-type') ?? '')) {
    next();
    return;
  }
  sendProblem(res, problemBody('forbidden', 'a queue action is sent as JSON (Content-Type: application/json)'));
}

/** Bull Board on every queue, behind the admin key. */
export function bullBoard(app: AppContext): ExtraMount {
  return {
    path: BULL_BOARD_PATH,
    access: 'admin',
    description: 'Bull Board: every queue, its jobs, retries and failures',
    mount: (express) => {
      const serverAdapter = new ExpressAdapter();
      serverAdapter.setBasePath(BULL_BOARD_PATH);
      createBullBoard({
        queues: QUEUE_NAMES.map((name) => new BullMQAdapter(app.queues[name])),
        serverAdapter,
        options: { uiConfig: { boardTitle: 'credits queues' } },
      });
      // the board is an express app of its own, which would set X-Powered-By again (the service's app disables it)
      const board = serverAdapter.getRouter() as Express;
      board.disable('x-powered-by');
      express.use(BULL_BOARD_PATH, requireAdmin(app), jsonPostsOnly, board);
    },
  };
}
