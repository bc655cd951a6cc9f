import type { Locale } from '../locale.js';
import { adminMessages } from './admin.js';
import { clientsMessages } from './clients.js';
import { commerceMessages } from './commerce.js';
import { commonMessages } from './common.js';
import { fieldsMessages } from './fields.js';
import { overviewMessages } from './overview.js';
import { packagesMessages } from './packages.js';
import { refusalsMessages } from './refusals.js';
import { reportsMessages } from './reports.js';
import { setupMessages } from './setup.js';
import { webhooksMessages } from './webhooks.js';

/**
 * The message catalogue of the pages: one area file per part of the back office (keys prefixed by
 * their area), merged here. Add an area: write messages/<area>.ts with defineMessages and list it below.
 */
const AREAS = [
  commonMessages,
  overviewMessages,
  clientsMessages,
  packagesMessages,
  reportsMessages,
  webhooksMessages,
  setupMessages,
  commerceMessages,
  adminMessages,
  fieldsMessages,
  refusalsMessages,
] as const;

type Area = (typeof AREAS)[number];
type KeysOf<A> = A extends { en: infer E } ? keyof E & string : never;
export type MessageKey = KeysOf<Area>;

export const CATALOG = {
  en: Object.assign({}, ...AREAS.map((area) => area.en)),
  ar: Object.assign({}, ...AREAS.map((area) => area.ar)),
} as Record<Locale, Record<MessageKey, import('../catalog.js').MessageText>>;

/** Each area's keys, for the test that no two areas define the same key. */
export const AREA_KEYS: readonly (readonly string[])[] = AREAS.map((area) => Object.keys(area.en));
