import { describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { planFreeze } from '../../src/domain/freeze.js';
import { parseQuantity, type QuantityProblem, quantityProblemMessage } from '../../src/domain/quantity.js';
import { subscriptionIn } from '../../src/domain/renewal.js';
import { UNSTORABLE_MESSAGE } from '../../src/domain/storable-text.js';
import { clientRoutes } from '../../src/http/routes/clients.js';
import { creditTypeRoutes } from '../../src/http/routes/credit-types.js';
import { webhookRoutes } from '../../src/http/routes/webhooks.js';
import { reportParamsInput } from '../../src/reports/params.js';
import { codeSchema, metadataSchema, nameSchema, timestampSchema } from '../../src/schemas/common.js';
import { createPackageBody, currencySchema, itemsSchema, validitySchema } from '../../src/schemas/package.js';
import { zodProblems } from '../../src/schemas/problems.js';
import { fieldMessage } from '../../src/ui/form.js';
import { Html } from '../../src/ui/html.js';
import { translator } from '../../src/ui/i18n/catalog.js';
import { formatters } from '../../src/ui/i18n/format.js';
import type { Locale } from '../../src/ui/i18n/locale.js';
import { CATALOG } from '../../src/ui/i18n/messages/index.js';
import { failureSays, fieldSays, freezeMessage, type Speaker } from '../../src/ui/refusals.js';
import { vetUrl } from '../../src/webhooks/guard.js';

/**
 * The routes' refusals the pages say in their own words (src/ui/refusals.ts), read from the words the service
 * really writes: its schemas' (zod's) and its domain's, produced here by the code that writes them, so that a
 * change of wording there fails here rather than show English on an Arabic page. What only a route with its
 * database says (a reference not found, a report's range) is pinned by test/ui, through the forms.
 */
const speaker = (locale: Locale): Speaker => ({
  locale,
  t: translator(locale, CATALOG),
  fmt: formatters(locale, 'gregory', 'Asia/Riyadh'),
});
const en = speaker('en');
const ar = speaker('ar');

/** The text a person reads, codes taken out (a code stays as it is spelt: `sms`, `a-z`, `http(s)://`). */
const prose = (markup: string): string =>
  markup
    .replace(/<(code|kbd)\b[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, '')
    .replace(/&[a-z#0-9]+;/g, ' ');

/** The problems a schema answers for a value, as the routes give them. */
const problemsOf = (schema: ZodType, value: unknown): string[] => {
  const parsed = schema.safeParse(value);
  expect(parsed.success, JSON.stringify(value)).toBe(false);
  return parsed.success ? [] : zodProblems(parsed.error).map((p) => p.message);
};
const bodyOf = (
  routes: ReadonlyArray<{ method: string; path: string; body?: ZodType }>,
  method: string,
  path: string,
) => routes.find((r) => r.method === method && r.path === path)!.body!;

const QUANTITY_PROBLEMS: QuantityProblem[] = ['not_a_number', 'negative', 'zero', 'too_many_decimals', 'too_large'];

/** Every field message of the service this file can produce without a database, by where it comes from. */
async function serviceMessages(): Promise<Record<string, string[]>> {
  const vetted = await vetUrl('http://127.0.0.1:9/hooks', false);
  const creditType = bodyOf(creditTypeRoutes, 'post', '/v1/credit-types');
  const webhook = bodyOf(webhookRoutes, 'post', '/v1/webhook-endpoints');
  const client = bodyOf(clientRoutes, 'post', '/v1/clients');
  const item = { credit_type: 'sms', units: 1 };
  const pkg = { code: 'p', name: 'P', price: 1, currency: 'USD', validity: { count: 1, unit: 'month' }, items: [item] };
  const now = new Date('2026-05-10T09:00:00Z');
  const subscription = {
    status: 'active' as const,
    currentPeriodStart: new Date('2026-05-01T00:00:00Z'),
    currentPeriodEnd: new Date('2026-06-01T00:00:00Z'),
  };
  const freeze = (days: number, max: number | null) =>
    planFreeze(subscription, max, 0, { days }, now) as { ok: false; errors?: Array<{ message: string }> };
  return {
    quantities: [
      ...QUANTITY_PROBLEMS.flatMap((problem) =>
        [0, 1, 2, 3, 6].map((decimals) => quantityProblemMessage(problem, decimals)),
      ),
      quantityProblemMessage('zero', 2, { allowNegative: true }),
      ...['1e16', '-1', '0', '1.5', 'abc', '0.0000001'].map((text) => {
        const parsed = parseQuantity(text, 0);
        return parsed.ok ? '' : parsed.detail;
      }),
    ],
    texts: [
      ...problemsOf(nameSchema, 'x'.repeat(201)),
      ...problemsOf(nameSchema, '   '),
      ...problemsOf(codeSchema, 'Bad Code'),
      ...problemsOf(timestampSchema, 'tomorrow'),
      UNSTORABLE_MESSAGE,
    ],
    'a credit type': [
      ...problemsOf(creditType, { code: 'sms', name: 'SMS', unit: 'u'.repeat(51), decimals: 7 }),
      ...problemsOf(creditType, { code: 'sms', name: 'SMS', unit: 'message', decimals: 'two' }),
      ...problemsOf(creditType, { code: 'sms', name: 'SMS', unit: 'message', dimensions: ['Branch', 'day'] }),
      ...problemsOf(creditType, {
        code: 'sms',
        name: 'SMS',
        unit: 'message',
        dimensions: ['a', 'b', 'c', 'd', 'e', 'f'],
      }),
      ...problemsOf(creditType, { code: 'sms', name: 'SMS', unit: 'message', dimensions: ['a', 'a'] }),
      ...problemsOf(creditType, { code: 'sms', name: 'SMS', unit: 'message', decimals: 1.5 }),
    ],
    'a package': [
      ...problemsOf(createPackageBody, {
        ...pkg,
        priority: 101,
        low_balance_percent: -1,
        description: 'd'.repeat(2001),
      }),
      ...problemsOf(createPackageBody, { ...pkg, price: 'abc' }),
      ...problemsOf(validitySchema, { count: 7, unit: 'day', calendar: 'islamic-umalqura' }),
      ...problemsOf(itemsSchema, []),
      ...problemsOf(currencySchema, 'usd'),
    ],
    'a client': [
      ...problemsOf(client, { external_ref: 'c', name: 'C', email: 'not-an-email' }),
      ...problemsOf(metadataSchema, Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))),
      ...problemsOf(metadataSchema, { ['k'.repeat(101)]: 'v' }),
      ...problemsOf(metadataSchema, { k: 'v'.repeat(17_000) }),
    ],
    'a webhook endpoint': [
      ...problemsOf(webhook, { url: 'ftp://example.com', events: [] }),
      ...problemsOf(webhook, { url: 'https://example.com', events: ['no.such.event'] }),
      ...(vetted.ok ? [] : (vetted.errors ?? []).map((e) => e.message)),
    ],
    'a report': [
      ...problemsOf(reportParamsInput, { days_ahead: '1.5' }),
      ...problemsOf(reportParamsInput, { days_ahead: 400 }),
      ...problemsOf(reportParamsInput, { days_ahead: '1000' }),
      ...problemsOf(reportParamsInput, { days_ahead: '0' }),
    ],
    // a hold's capture (http/routes/holds.ts): the words its route writes
    'a hold': ['is more than the hold holds'],
    // a balance's as_of (http/routes/clients.ts, services/balances.ts): the words its route writes
    'a balance as of': [
      'must be an RFC 3339 time with its offset, or a day',
      'the history before 2026-01-01T00:00:00.000Z is archived: as_of must be at or after it',
    ],
    'a freeze': [...(freeze(0, 5).errors ?? []), ...(freeze(9, 5).errors ?? []), ...(freeze(3, null).errors ?? [])].map(
      (e) => e.message,
    ),
  };
}

describe('a route’s field message in the page’s words', async () => {
  const all = Object.entries(await serviceMessages()).flatMap(([from, messages]) =>
    [...new Set(messages.filter((m) => m !== ''))].map((message) => [from, message] as const),
  );

  it('finds the messages it reads (a schema that stopped refusing would pass everything)', () => {
    expect(all.length).toBeGreaterThan(40);
  });

  it.each(all)('reads %s’s “%s” in both languages: Arabic in Arabic words and digits', (_from, message) => {
    // the freeze's own two readings are its form's (freezeMessage), not every field's
    const says = (speaker: Speaker): Html | undefined => {
      if (!/^(?:beyond max_freeze_days|the package allows no freezing)/.test(message))
        return fieldSays(speaker, message);
      const said = freezeMessage(speaker, message);
      return said instanceof Html ? said : undefined;
    };
    const arabic = says(ar);
    const english = says(en);
    expect(arabic?.value, message).toBeDefined();
    expect(english?.value, message).toBeDefined();
    expect(prose(arabic!.value), message).not.toMatch(/[A-Za-z0-9]/);
    expect(prose(arabic!.value), message).toMatch(/\p{Script=Arabic}/u);
    // an English page says it in the catalogue's words too: a sentence, not the route's lower-case phrase
    expect(prose(english!.value).trim(), message).toMatch(/^[A-Z].*\.$/);
  });

  it('carries the parameters over: bounds in the page’s digits, codes as codes', () => {
    expect(fieldSays(ar, 'Too big: expected string to have <=200 characters')?.value).toBe(
      'يجب ألا يزيد النص على ٢٠٠ حرف.',
    );
    expect(fieldSays(ar, 'Too big: expected string to have <=50 characters')?.value).toBe(
      'يجب ألا يزيد النص على ٥٠ حرفًا.',
    );
    expect(fieldSays(en, 'Too big: expected string to have <=500 characters')?.value).toBe('At most 500 characters.');
    expect(fieldSays(ar, quantityProblemMessage('too_many_decimals', 2))?.value).toBe(
      'لا يقبل نوع الرصيد هذا أكثر من منزلتين عشريتين.',
    );
    expect(fieldSays(en, quantityProblemMessage('too_many_decimals', 1))?.value).toBe(
      'At most 1 decimal place for this credit type.',
    );
    expect(fieldSays(ar, 'credit type "<b>sms</b>" is archived')?.value).toBe(
      'نوع الرصيد <code dir="ltr">&lt;b&gt;sms&lt;/b&gt;</code> مؤرشف؛ لم يعد ممكنًا وضعه في باقة.',
    );
    expect(fieldSays(en, 'no credit type "voice"')?.value).toBe(
      'There is no credit type <code dir="ltr">voice</code>.',
    );
    // a reference the route found nothing by, named by what the form posted in its field
    expect(fieldSays(ar, 'not found', { field: 'credit_type', value: 'fax' })?.value).toBe(
      'لا يوجد نوع رصيد بالرمز <code dir="ltr">fax</code>.',
    );
    expect(fieldSays(en, 'not found', { field: 'package' })?.value).toBe('Not found.');
    // days_ahead's bounds, in days (the words its schema writes)
    const [tooMany] = problemsOf(reportParamsInput, { days_ahead: '1000' });
    const [tooFew] = problemsOf(reportParamsInput, { days_ahead: 0 });
    expect([tooMany, tooFew]).toEqual(['must be at most 366 days', 'must be at least 1 day']);
    expect(fieldSays(ar, tooMany!)?.value).toBe('يجب ألا تزيد المدة على ٣٦٦ يومًا.');
    expect(fieldSays(en, tooMany!)?.value).toBe('At most 366 days.');
    expect(fieldSays(ar, tooFew!)?.value).toBe('يجب ألا تقل المدة عن يوم واحد.');
    expect(fieldSays(en, tooFew!)?.value).toBe('At least 1 day.');
  });

  it('leaves words it does not know to the form, marked English on an Arabic page', () => {
    expect(fieldSays(ar, 'a message no route writes')).toBeUndefined();
    expect(fieldMessage(ar, 'a message no route writes').value).toBe(
      'هذه القيمة غير صالحة. <span lang="en" dir="ltr">(a message no route writes)</span>',
    );
    expect(fieldMessage(en, 'a message no route writes').value).toBe('a message no route writes');
  });
});

describe('a refusal no field says, in the page’s words', () => {
  const FAILURES: Array<[string, string]> = [
    ['not_found', 'no credit type "sms"'],
    ['not_found', 'no package "starter"'],
    ['not_found', 'no client "crm-42"'],
    ['conflict', 'a credit type with code "sms" exists already'],
    ['conflict', 'a package with code "starter" exists already'],
    ['conflict', 'package "starter" is archived and no longer sold'],
    ['conflict', 'invoice INV-2026-000001 is paid and cannot be voided'],
    ['conflict', 'invoice INV-2026-000001 is void and cannot be paid'],
    [
      'conflict',
      "invoice INV-2026-000001 was unpaid when its subscription's period ended (2026-05-01T00:00:00.000Z); " +
        'it is void and cannot be paid',
    ],
    ['conflict', `${subscriptionIn('cancelled')} cannot become suspended`],
    ['conflict', `${subscriptionIn('expired')} cannot become active`],
    ['conflict', `${subscriptionIn('active')} cannot be un-cancelled`],
    ['conflict', `${subscriptionIn('suspended')} cannot be set to cancel`],
    ['conflict', 'a pending subscription has no period running to cancel at; cancel it now'],
    ['conflict', 'the subscription has expired already'],
    ['conflict', 'the balance is void'],
    ['conflict', 'the balance has expired'],
    ['conflict', 'a rejected consumption took nothing, so there is nothing to reverse'],
    ['conflict', 'its month of history was archived: its allocations are no longer here to give back'],
    [
      'conflict',
      'consumption "0190a000-0000-7000-8000-000000000001" is queued, not applied yet: reverse it once it is',
    ],
    ['conflict', 'the delivery was delivered already'],
    ['conflict', 'the endpoint of the delivery was deleted'],
    ['conflict', 'the endpoint of the delivery is disabled: enable it first (POST …/enable)'],
    // a hold's capture and release (http/routes/holds.ts, jobs/hold-closing.ts)
    ['conflict', 'hold 0190a000-0000-7000-8000-000000000001 is released: it cannot be captured'],
    ['conflict', 'hold 0190a000-0000-7000-8000-000000000001 was rejected: it cannot be released'],
    ['conflict', 'hold 0190a000-0000-7000-8000-000000000001 captured: it cannot be released'],
    ['conflict', 'hold 0190a000-0000-7000-8000-000000000001 was captured for 4: a capture of 5 is another capture'],
    [
      'conflict',
      'hold 0190a000-0000-7000-8000-000000000001 was captured for 2.5: a capture of 10 (all it held) is another ' +
        'capture',
    ],
    ['conflict', 'hold 0190a000-0000-7000-8000-000000000001 is still queued'],
    ['conflict', 'hold 0190a000-0000-7000-8000-000000000001 expired at 2026-05-01T10:00:00.000Z'],
  ];

  it.each(FAILURES)('reads a %s “%s” in both languages', (code, detail) => {
    const arabic = failureSays(ar, { code, detail });
    const english = failureSays(en, { code, detail });
    expect(arabic?.value, detail).toBeDefined();
    expect(prose(arabic!.value), detail).not.toMatch(/[A-Za-z0-9]/);
    expect(prose(english!.value).trim(), detail).toMatch(/^[A-Z].*\.$/);
  });

  it('names a status and a time as the page does, and the code it was given', () => {
    expect(
      failureSays(ar, { code: 'conflict', detail: 'a cancelled subscription cannot become suspended' })?.value,
    ).toBe('حالة الاشتراك «ملغى»، فلا يمكن أن تصبح «موقوف».');
    expect(failureSays(en, { code: 'conflict', detail: 'package "old" is archived and no longer sold' })?.value).toBe(
      'Package <code dir="ltr">old</code> is archived: it is no longer sold.',
    );
  });

  it('adds nothing where the code says it all, and reads nothing under another code', () => {
    const resent = { code: 'idempotency_conflict', detail: 'this Idempotency-Key was used with another request body' };
    expect(failureSays(ar, resent)?.value).toBe('');
    // what the form acts on is gone: the form's line for not_found says it
    expect(
      failureSays(en, { code: 'not_found', detail: 'no subscription "0190a000-0000-7000-8000-000000000001"' })?.value,
    ).toBe('');
    expect(
      failureSays(ar, { code: 'not_found', detail: 'package "old" is archived and no longer sold' }),
    ).toBeUndefined();
    expect(failureSays(ar, { code: 'conflict', detail: 'something new' })).toBeUndefined();
  });
});
