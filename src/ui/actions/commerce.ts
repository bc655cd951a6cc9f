import type express from 'express';
import type { UiKit } from '../kit.js';

/** The commerce part of the back office: its pages and form posts (registered before the pages' 404). */
export function commerceActions(_router: express.Router, _kit: UiKit): void {}
