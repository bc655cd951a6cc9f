import { defineMessages } from '../catalog.js';

/** The messages of the webhooks area (keys prefixed `webhooks.`, notices `notice.<code>`). */
export const webhooksMessages = defineMessages(
  {
    'webhooks.title': 'Webhooks',
    'webhooks.lead': 'Where events are delivered.',
    'webhooks.disabled_count': {
      one: '{number} disabled: it gets no new events until enabled.',
      other: '{number} disabled: they get no new events until enabled.',
    },
    'webhooks.none_yet': 'No webhook endpoints yet.',
    'webhooks.col_url': 'URL',
    'webhooks.col_events': 'Events',
    'webhooks.col_delivered': 'Delivered',
    'webhooks.col_pending': 'Pending',
    'webhooks.col_failed': 'Failed',
    'webhooks.all_events': 'all events',
    'webhooks.since': 'since {time}',
    'webhooks.enable': 'Enable',
    'webhooks.disabled_reason': {
      one: 'delivery {delivery} failed {attempts} attempt in a row; the last: {error}',
      other: 'delivery {delivery} failed {attempts} attempts in a row; the last: {error}',
    },
    'notice.enabled': 'The webhook endpoint is enabled: new events are delivered to it again.',
    'notice.enable_failed': 'The webhook endpoint could not be enabled.',
  },
  {
    'webhooks.title': 'الخطافات',
    'webhooks.lead': 'الجهات التي تُسلَّم إليها الأحداث.',
    'webhooks.disabled_count': {
      zero: 'لا توجد نقاط معطّلة ({number}).',
      one: 'نقطة واحدة معطّلة: لن تصلها أحداث جديدة حتى تُفعَّل.',
      two: 'نقطتان معطّلتان: لن تصلهما أحداث جديدة حتى تُفعَّلا.',
      few: '{number} نقاط معطّلة: لن تصلها أحداث جديدة حتى تُفعَّل.',
      many: '{number} نقطةً معطّلة: لن تصلها أحداث جديدة حتى تُفعَّل.',
      other: '{number} نقطة معطّلة: لن تصلها أحداث جديدة حتى تُفعَّل.',
    },
    'webhooks.none_yet': 'لا توجد نقاط استقبال بعد.',
    'webhooks.col_url': 'العنوان',
    'webhooks.col_events': 'الأحداث',
    'webhooks.col_delivered': 'سُلّمت',
    'webhooks.col_pending': 'قيد الانتظار',
    'webhooks.col_failed': 'فشلت',
    'webhooks.all_events': 'كل الأحداث',
    'webhooks.since': 'منذ {time}',
    'webhooks.enable': 'تفعيل',
    'webhooks.disabled_reason': {
      zero: 'فشل التسليم {delivery} في {attempts} محاولة متتالية؛ آخرها: {error}',
      one: 'فشل التسليم {delivery} في محاولة واحدة؛ آخرها: {error}',
      two: 'فشل التسليم {delivery} في محاولتين متتاليتين؛ آخرها: {error}',
      few: 'فشل التسليم {delivery} في {attempts} محاولات متتالية؛ آخرها: {error}',
      many: 'فشل التسليم {delivery} في {attempts} محاولةً متتالية؛ آخرها: {error}',
      other: 'فشل التسليم {delivery} في {attempts} محاولة متتالية؛ آخرها: {error}',
    },
    'notice.enabled': 'فُعّلت نقطة الاستقبال: ستُسلَّم إليها الأحداث الجديدة مجددًا.',
    'notice.enable_failed': 'تعذّر تفعيل نقطة الاستقبال.',
  },
);
