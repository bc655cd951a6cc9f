import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { AppContext } from '../app-context.js';
import { requireAdmin } from '../http/admin-auth.js';
import type { ExtraMount } from '../http/app.js';
import { QUEUE_NAMES } from '../queue/names.js';

export const BULL_BOARD_PATH = '/admin/queues';

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
      express.use(BULL_BOARD_PATH, requireAdmin(app), serverAdapter.getRouter());
    },
  };
}
