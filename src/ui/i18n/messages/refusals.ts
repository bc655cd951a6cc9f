import { defineMessages } from '../catalog.js';

/**
 * Why a route refused a form when no field says it (keys prefixed `refusal.`): the detail of a refusal for the
 * state of what the form acts on (a conflict) or for what it names (not found), as src/ui/refusals.ts reads the
 * service's words, in the page's language, its codes and times carried over.
 */
export const refusalsMessages = defineMessages(
  {
    'refusal.no_credit_type': 'There is no credit type {code}.',
    'refusal.no_package': 'There is no package {code}.',
    'refusal.no_client': 'There is no client {ref}.',
    'refusal.credit_type_exists': 'A credit type with code {code} exists already.',
    'refusal.package_exists': 'A package with code {code} exists already.',
    'refusal.package_archived': 'Package {code} is archived: it is no longer sold.',
    'refusal.invoice_paid': 'Invoice {number} is paid: it can no longer be voided.',
    'refusal.invoice_void': 'Invoice {number} is void: it can no longer be paid.',
    'refusal.invoice_lapsed':
      "Invoice {number} was unpaid when its subscription's period ended ({end}): it is void and can no longer be paid.",
    'refusal.subscription_cannot_become': 'The subscription is {from}: it cannot become {to}.',
    'refusal.subscription_uncancel': 'The subscription is {status}: its cancellation cannot be taken back.',
    'refusal.subscription_no_end_cancel':
      "The subscription is {status}: it cannot be set to cancel at its period's end.",
    'refusal.pending_end_cancel': 'A pending subscription has no period running to cancel at: cancel it now.',
    'refusal.subscription_expired': 'The subscription has expired already.',
    'refusal.balance_status': 'The balance is {status}: it can no longer be adjusted.',
    'refusal.balance_expired': 'The balance has expired: it can no longer be adjusted.',
    'refusal.reverse_rejected': 'A rejected consumption took nothing: there is nothing to reverse.',
    'refusal.reverse_archived': 'Its month of history is archived: what it took is no longer here to give back.',
    'refusal.reverse_queued': 'The consumption is queued, not applied yet: reverse it once it is.',
    'refusal.endpoint_deleted': 'The endpoint of this delivery was deleted.',
    'refusal.hold_not_captured': 'The hold is {status}: it can no longer be captured.',
    'refusal.hold_not_released': 'The hold is {status}: it can no longer be released.',
    'refusal.hold_queued': 'The hold is still queued: try again once it holds its units.',
    'refusal.hold_expired': 'The hold expired {time}: it can no longer be captured.',
    'refusal.hold_captured_otherwise': 'The hold was captured for {captured}: a capture of {asked} would be another.',
  },
  {
    'refusal.no_credit_type': 'لا يوجد نوع رصيد بالرمز {code}.',
    'refusal.no_package': 'لا توجد باقة بالرمز {code}.',
    'refusal.no_client': 'لا يوجد عميل بالمرجع {ref}.',
    'refusal.credit_type_exists': 'يوجد نوع رصيد بالرمز {code} من قبل.',
    'refusal.package_exists': 'توجد باقة بالرمز {code} من قبل.',
    'refusal.package_archived': 'الباقة {code} مؤرشفة، ولم تعد تُباع.',
    'refusal.invoice_paid': 'الفاتورة {number} مدفوعة، ولم يعد ممكنًا إلغاؤها.',
    'refusal.invoice_void': 'الفاتورة {number} ملغاة، ولم يعد ممكنًا دفعها.',
    'refusal.invoice_lapsed':
      'لم تُدفع الفاتورة {number} حتى انتهت فترة اشتراكها ({end})؛ فهي ملغاة ولم يعد ممكنًا دفعها.',
    'refusal.subscription_cannot_become': 'حالة الاشتراك «{from}»، فلا يمكن أن تصبح «{to}».',
    'refusal.subscription_uncancel': 'حالة الاشتراك «{status}»، فلا يمكن التراجع عن إلغائه.',
    'refusal.subscription_no_end_cancel': 'حالة الاشتراك «{status}»، فلا يمكن جدولة إلغائه بنهاية فترته.',
    'refusal.pending_end_cancel': 'الاشتراك المعلّق ليست له فترة جارية يُلغى بنهايتها؛ ألغه الآن.',
    'refusal.subscription_expired': 'انتهى الاشتراك من قبل.',
    'refusal.balance_status': 'حالة الرصيد «{status}»، فلم يعد ممكنًا تعديله.',
    'refusal.balance_expired': 'انتهت صلاحية الرصيد، فلم يعد ممكنًا تعديله.',
    'refusal.reverse_rejected': 'الاستهلاك المرفوض لم يأخذ شيئًا، فلا شيء يُعكس.',
    'refusal.reverse_archived': 'شهره من السجل مؤرشف، فلم يعد ما أخذه هنا ليُعاد.',
    'refusal.reverse_queued': 'الاستهلاك في الطابور ولم يُطبَّق بعد؛ اعكسه بعد تطبيقه.',
    'refusal.endpoint_deleted': 'حُذف عنوان الاستقبال الخاص بهذه الإرسالية.',
    'refusal.hold_not_captured': 'حالة الحجز «{status}»، فلم يعد ممكنًا تحصيله.',
    'refusal.hold_not_released': 'حالة الحجز «{status}»، فلم يعد ممكنًا فكّه.',
    'refusal.hold_queued': 'الحجز ما زال في الطابور؛ حاول مجددًا بعد أن يحجز وحداته.',
    'refusal.hold_expired': 'انتهى الحجز في {time}، فلم يعد ممكنًا تحصيله.',
    'refusal.hold_captured_otherwise': 'حُصِّل الحجز بمقدار {captured}، وتحصيل {asked} تحصيلٌ آخر.',
  },
);
