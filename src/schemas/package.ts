import { z } from 'zod';
import { CALENDAR_UNITS, VALIDITY_CALENDARS, VALIDITY_UNITS } from '../domain/period.js';
import { codeSchema, fixed, metadataSchema, moneyInput, nameSchema, quantityInput, refSchema } from './common.js';

export const validitySchema = z
  .strictObject({
    count: z.number().int().min(1).max(1000),
    unit: z.enum(VALIDITY_UNITS),
    calendar: z
      .enum(VALIDITY_CALENDARS)
      .optional()
      .meta({
        description:
          'What months and years are counted in: `gregory` (the default) or `islamic-umalqura`, the Hijri ' +
          'calendar of Umm al-Qura (1 Hijri month from 1 Ramadan ends at 1 Shawwal). Only with `month` or `year`.',
      }),
  })
  // a day or a week is as long in every calendar: naming another calendar there would promise something it cannot
  .refine((v) => v.calendar === undefined || v.calendar === 'gregory' || CALENDAR_UNITS.includes(v.unit), {
    message: 'applies to a month or a year only: a day or a week is the same in every calendar',
    path: ['calendar'],
  });

export const rolloverSchema = z.discriminatedUnion('policy', [
  z.strictObject({ policy: z.literal('none') }),
  z.strictObject({ policy: z.literal('all') }),
  z.strictObject({
    policy: z.literal('percent'),
    percent: z.number().int().min(1).max(100),
    cap_percent: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .nullable()
      .optional()
      .meta({ description: "At most this share of one period's grant rolls over." }),
  }),
]);

export const itemSchema = z.strictObject({ credit_type: refSchema, units: quantityInput });

export const itemsSchema = z.array(itemSchema).min(1, 'a package holds at least one item').max(50);

export const currencySchema = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD');

export const maxFreezeDays = z
  .number()
  .int()
  .min(1)
  .max(3660)
  .nullable()
  .meta({ description: 'Days a subscription may be frozen per period; null (the default): no freezing.' });

export const createPackageBody = z.strictObject({
  code: codeSchema,
  name: nameSchema,
  description: z.string().max(2000).nullable().optional(),
  price: moneyInput,
  currency: currencySchema,
  validity: validitySchema,
  items: itemsSchema,
  recharge_price: moneyInput.nullable().optional().meta({ description: 'Fee of one recharge; defaults to the price.' }),
  rollover: rolloverSchema.optional(),
  auto_renew: z.boolean().optional(),
  priority: z.number().int().min(0).max(100).optional().meta({ description: 'Lower is spent first; default 50.' }),
  low_balance_percent: z.number().int().min(0).max(100).optional(),
  max_freeze_days: maxFreezeDays.optional(),
  metadata: metadataSchema.optional(),
});

export const patchPackageBody = z
  .strictObject({
    name: nameSchema.optional(),
    description: z.string().max(2000).nullable().optional(),
    price: moneyInput.optional(),
    recharge_price: moneyInput.nullable().optional(),
    validity: validitySchema.optional(),
    items: itemsSchema.optional(),
    rollover: rolloverSchema.optional(),
    auto_renew: z.boolean().optional(),
    priority: z.number().int().min(0).max(100).optional(),
    low_balance_percent: z.number().int().min(0).max(100).optional(),
    max_freeze_days: maxFreezeDays.optional(),
    status: z.enum(['active', 'archived']).optional(),
    metadata: metadataSchema.optional(),
    code: fixed('other systems name the package by its code'),
    currency: fixed("its subscriptions and invoices keep the package's currency"),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change');
