import { defineMessages } from '../catalog.js';

/**
 * The routes' own field messages a person meets most in the forms (keys prefixed `field.`), in the
 * page's language: form.ts reads a schema's English message through FIELD_MESSAGES, and zod's number range
 * and type messages (`Too big: expected number to be <=6`) through NUMBER_ISSUES. A message not
 * listed there is shown as the route wrote it, marked as English, after "This value is not valid."
 */
export const fieldsMessages = defineMessages(
  {
    'field.not_negative': 'Must not be negative.',
    'field.above_zero': 'Must be greater than zero.',
    'field.not_zero': 'Must not be zero.',
    'field.whole_for_type': 'Must be a whole number for this credit type.',
    'field.decimal': 'Must be a number such as {example}.',
    'field.currency': 'Must be an ISO 4217 currency code such as {example}.',
    'field.code': 'Must be {min} to {max} characters of {chars}, starting with a letter or digit.',
    'field.one_item': 'A package holds at least one item.',
    'field.repeated_credit_type': 'Credit type {code} appears more than once.',
    'field.not_a_number': 'Must be a number.',
    'field.whole_number': 'Must be a whole number.',
    'field.at_most': 'Must be at most {bound}.',
    'field.below': 'Must be less than {bound}.',
    'field.at_least': 'Must be at least {bound}.',
    'field.above': 'Must be greater than {bound}.',
  },
  {
    'field.not_negative': 'يجب ألا تكون القيمة سالبة.',
    'field.above_zero': 'يجب أن تكون القيمة أكبر من صفر.',
    'field.not_zero': 'يجب ألا تكون القيمة صفرًا.',
    'field.whole_for_type': 'يجب أن تكون عددًا صحيحًا لنوع الرصيد هذا.',
    'field.decimal': 'يجب أن تكون عددًا مثل {example}.',
    'field.currency': 'يجب أن تكون رمز عملة معياريًا من ثلاثة أحرف مثل {example}.',
    'field.code': 'من {min} إلى {max} حرفًا من {chars}، تبدأ بحرف أو رقم.',
    'field.one_item': 'تحتاج الباقة إلى بند واحد على الأقل.',
    'field.repeated_credit_type': 'نوع الرصيد {code} مكرر في الباقة.',
    'field.not_a_number': 'يجب أن تكون القيمة عددًا.',
    'field.whole_number': 'يجب أن تكون القيمة عددًا صحيحًا.',
    'field.at_most': 'يجب ألا تزيد القيمة على {bound}.',
    'field.below': 'يجب أن تكون القيمة أقل من {bound}.',
    'field.at_least': 'يجب ألا تقل القيمة عن {bound}.',
    'field.above': 'يجب أن تكون القيمة أكبر من {bound}.',
  },
);
