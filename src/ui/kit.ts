import type { Request, Response } from 'express';
import type { Html } from './html.js';
import type { MessageKey } from './i18n/messages/index.js';
import type { UiContext } from './layout.js';

/** What the pages' router gives each actions module (src/ui/actions): one way to build a page and answer. */
export interface UiKit {
  /** The viewer, language, formatters and CSRF token of a request past the sign-in guard. */
  context(req: Request, res: Response): UiContext;
  /** A GET handler rendering a page, or a 404 page with `missing` when the render finds nothing. */
  pageRoute(
    render: (ctx: UiContext) => Promise<Html | undefined>,
    missing?: MessageKey,
  ): (req: Request, res: Response) => Promise<void>;
  send(res: Response, status: number, body: Html): void;
  notFound(req: Request, res: Response, message: MessageKey): void;
}
