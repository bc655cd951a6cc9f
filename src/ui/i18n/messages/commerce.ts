import { defineMessages } from '../catalog.js';

/**
 * The messages of the commerce area (keys prefixed `commerce.`, notices `notice.<code>`): selling a
 * subscription, consumptions and their quotes, balance adjustments, invoices.
 */
export const commerceMessages = defineMessages(
  {
    'notice.subscription_sold': 'The subscription was sold; its invoice is below.',
    'notice.subscription_cancelled': 'The subscription was cancelled; its remaining units were voided.',
    'notice.subscription_cancel_scheduled':
      'The subscription will end at the end of its period; it will not be renewed.',
    'notice.subscription_suspended': 'The subscription is suspended: its balances pay for nothing until it resumes.',
    'notice.subscription_resumed': 'The subscription is active again.',
    'notice.consumption_applied': 'The consumption was registered.',
    'notice.consumption_queued':
      'The consumption is accepted and waits for a worker; this page shows it once it is applied.',
    'notice.consumption_reversed': 'The consumption was reversed: its units went back to their balances.',
    'notice.reversal_queued': 'The reversal is accepted and waits for a worker.',
    'notice.balance_adjusted': 'The balance was adjusted.',
    'notice.invoice_paid': 'The payment of the invoice was recorded.',
    'notice.invoice_voided': 'The invoice was voided.',

    'commerce.span': '{from} → {to}',

    'commerce.refused.validation_failed': 'The request was refused: some values are not valid.',
    'commerce.refused.not_found': 'The request was refused: what it names does not exist.',
    'commerce.refused.conflict': 'The request was refused: the current state does not allow it.',
    'commerce.refused.idempotency_conflict':
      'This form was sent before with other values; it has a new key now, send it again.',
    'commerce.refused.insufficient_balance': 'The request was refused: the balance is not enough.',
    'commerce.refused.unavailable': 'The database or the queue cannot be reached right now; nothing was done.',
    'commerce.refused.forbidden': 'The request was refused: this key may not do it.',
    'commerce.refused.other': 'The request was refused.',

    'commerce.error.no_consumption': 'No such consumption.',
    'commerce.error.no_balance': 'No such balance.',
    'commerce.error.no_invoice': 'No such invoice.',

    'commerce.client.sell': 'Sell a subscription',
    'commerce.client.consume': 'Register a consumption',
    'commerce.client.manage': 'Manage',
    'commerce.client.invoices': 'Invoices',

    'commerce.sell.title': 'Sell a subscription',
    'commerce.sell.package': 'Package',
    'commerce.sell.choose_package': 'Choose a package…',
    'commerce.sell.no_packages': 'No package is on sale; create one first.',
    'commerce.sell.price': 'Own price (optional)',
    'commerce.sell.price_hint': "In the package's currency, e.g. {example}; empty: the package price.",
    'commerce.sell.starts_at': 'Starts at (optional)',
    'commerce.sell.starts_at_hint': 'Empty: now.',
    'commerce.sell.auto_renew': 'Automatic renewal',
    'commerce.sell.auto_renew_package': 'As the package says',
    'commerce.sell.activation': 'Activation',
    'commerce.sell.activation_immediate': 'At once',
    'commerce.sell.activation_on_payment': 'When its invoice is paid',
    'commerce.sell.submit': 'Sell',

    'commerce.subscription.title': 'Subscription to {package}',
    'commerce.subscription.heading': 'Subscription',
    'commerce.subscription.status': 'Status',
    'commerce.subscription.period': 'Current period',
    'commerce.subscription.price': 'Price',
    'commerce.subscription.own_price': '(its own price)',
    'commerce.subscription.renewals': 'Renewals',
    'commerce.subscription.ends_at_period_end': 'ends at period end',
    'commerce.subscription.frozen_until': 'frozen until',
    'commerce.subscription.suspend': 'Suspend',
    'commerce.subscription.resume': 'Resume',
    'commerce.subscription.cancel': 'Cancel the subscription',
    'commerce.subscription.cancel_at': 'Cancel',
    'commerce.subscription.cancel_period_end': 'At the end of the period (no renewal)',
    'commerce.subscription.cancel_now': 'Now (remaining units are voided)',
    'commerce.subscription.cancel_reason': 'Reason (optional)',
    'commerce.subscription.freeze_hint': "Freezing and unfreezing are on the client's page.",
    'commerce.subscription.balances': 'Balances',
    'commerce.subscription.no_balances': 'No balances.',
    'commerce.subscription.invoices': 'Invoices',

    'commerce.balance.credit_type': 'Credit type',
    'commerce.balance.source': 'Source',
    'commerce.balance.status': 'Status',
    'commerce.balance.remaining': 'Remaining',
    'commerce.balance.granted': 'Granted',
    'commerce.balance.consumed': 'Consumed',
    'commerce.balance.valid': 'Valid',
    'commerce.balance.expires': 'Expires',
    'commerce.balance.adjust': 'Adjust',
    'commerce.balance.subscription': 'its subscription',
    'commerce.balance.grant': "an operator's grant",
    'commerce.balance.last_entry': 'Last ledger entry: {kind} {amount}, leaving {after} ({at})',

    'commerce.adjust.title': 'Adjust a balance',
    'commerce.adjust.heading': 'Add or remove units',
    'commerce.adjust.delta': 'Change',
    'commerce.adjust.delta_hint': 'In {unit}: positive adds, negative removes (e.g. {example}).',
    'commerce.adjust.reason': 'Reason',
    'commerce.adjust.submit': 'Adjust',
    'commerce.adjust.insufficient': 'The balance holds {remaining}; it cannot lose {delta}. Nothing was changed.',

    'commerce.consume.title': 'Register a consumption',
    'commerce.consume.credit_type': 'Credit type',
    'commerce.consume.quantity': 'Quantity',
    'commerce.consume.occurred_at': 'Occurred at (optional)',
    'commerce.consume.occurred_at_hint': 'Empty: now.',
    'commerce.consume.mode': 'If the balance is short',
    'commerce.consume.mode_reject': 'Refuse the whole use',
    'commerce.consume.mode_partial': 'Take what there is',
    'commerce.consume.reference': 'Reference (optional)',
    'commerce.consume.dimension_hint': 'Kept for: {types}',
    'commerce.consume.quote': 'Quote',
    'commerce.consume.register': 'Register',
    'commerce.consume.key_hint': 'Sending this form twice registers it once. Its key:',
    'commerce.consume.no_credit_types': 'There is no credit type yet; create one first.',
    'commerce.consume.insufficient':
      'Not enough balance: the client has {remaining}, the use asks {quantity}, {shortfall} short. ' +
      'Nothing was deducted.',

    'commerce.quote.heading': 'Quote',
    'commerce.quote.enough': 'The balances cover it: {quantity} would be taken, {remaining} would be left.',
    'commerce.quote.partial': 'Only {applied} would be taken; {shortfall} short.',
    'commerce.quote.short':
      'Not enough balance: the client has {remaining}, the use asks {quantity}, {shortfall} short. ' +
      'It would be refused.',
    'commerce.quote.nothing_written': 'A quote writes nothing; a use registered later may find less.',
    'commerce.quote.no_allocation': 'No balance would pay for it.',

    'commerce.allocation.heading': 'Which balances paid',
    'commerce.allocation.balance': 'Balance',
    'commerce.allocation.paid': 'Paid',
    'commerce.allocation.would_take': 'Would take',
    'commerce.allocation.left_now': 'Left in it now',
    'commerce.allocation.none': 'No balance paid for this use.',

    'commerce.consumption.title': 'Consumption',
    'commerce.consumption.queued': 'It waits for a worker; this page refreshes until it is applied.',
    'commerce.consumption.applied': 'Taken',
    'commerce.consumption.shortfall': 'Short',
    'commerce.consumption.remaining': 'Left after it',
    'commerce.consumption.key': 'Idempotency key',
    'commerce.consumption.occurred_at': 'Occurred at',
    'commerce.consumption.reference': 'Reference',
    'commerce.consumption.reverse': 'Reverse',
    'commerce.consumption.reverse_reason': 'Reason (optional)',
    'commerce.consumption.reversed_line':
      'Reversed {at}: {returned} went back to their balances, {expired} had expired and were not revived.',
    'commerce.consumption.another': 'Register another consumption',

    'commerce.invoices.title': 'Invoices',
    'commerce.invoices.lead': 'Every invoice of sales, renewals and recharges.',
    'commerce.invoices.filter_status': 'Status',
    'commerce.invoices.filter_client': 'Client (id or external ref)',
    'commerce.invoices.any': 'Any',
    'commerce.invoices.none': 'No invoices.',
    'commerce.invoices.client': 'Client',
    'commerce.invoices.status': 'Status',
    'commerce.invoice.number': 'Invoice {number}',
    'commerce.invoice.number_short': 'Number',
    'commerce.invoice.kind': 'Kind',
    'commerce.invoice.kind.subscription': 'sale',
    'commerce.invoice.kind.renewal': 'renewal',
    'commerce.invoice.kind.recharge': 'recharge',
    'commerce.invoice.issued_at': 'Issued',
    'commerce.invoice.period': 'Period',
    'commerce.invoice.paid_at': 'Paid',
    'commerce.invoice.voided_at': 'Voided',
    'commerce.invoice.line': 'Line',
    'commerce.invoice.quantity': 'Quantity',
    'commerce.invoice.amount': 'Amount',
    'commerce.invoice.total': 'Total',
    'commerce.invoice.subscription': 'its subscription',
    'commerce.invoice.pay': 'Record payment',
    'commerce.invoice.void': 'Void',
    'commerce.invoice.void_reason': 'Reason to void (optional)',

    'commerce.confirm.final': 'This cannot be undone.',
    'commerce.confirm.back': 'Go back, change nothing',
    'commerce.confirm.reverse_title': 'Reverse this consumption?',
    'commerce.confirm.reverse_lead':
      'Reverse the consumption of {quantity} by {client} ({ref})? Its units go back to the balances that paid for ' +
      'it; units of a balance that has expired since are not revived. The consumption stays on the statement, ' +
      'marked reversed.',
    'commerce.confirm.reverse_submit': 'Reverse the consumption',
    'commerce.confirm.void_title': 'Void this invoice?',
    'commerce.confirm.void_lead': 'Void invoice {number} ({total})? It can no longer be paid.',
    'commerce.confirm.void_units_stay':
      'The units it granted are not taken back: they stay in the client’s balances. To take them back, adjust ' +
      'those balances.',
    'commerce.confirm.void_pending':
      'Its subscription has not started: it is cancelled, and the units it was to grant are voided.',
    'commerce.confirm.void_submit': 'Void the invoice',
    'commerce.confirm.cancel_now_title': 'Cancel this subscription now?',
    'commerce.confirm.cancel_now_lead':
      'Cancel {package} of {client} now? Its remaining units are voided at once and can no longer be used, ' +
      'and its unpaid invoices for periods not yet begun are voided. It is not renewed.',
    'commerce.confirm.cancel_now_submit': 'Cancel it now',
    'commerce.confirm.cancel_end_title': 'Cancel this subscription at the end of its period?',
    'commerce.confirm.cancel_end_lead':
      'Cancel {package} of {client} at the end of its period ({end})? Its units stay usable until then; it is ' +
      'not renewed.',
    'commerce.confirm.cancel_end_ahead_lead':
      'Cancel {package} of {client} at the end of its period? It has been renewed ahead, for {start} to {end}: ' +
      'if that renewal is not paid, it is taken back (its invoice voided, its units never granted) and the ' +
      'subscription ends on {start}; if it is paid, it stands and the subscription ends on {end}. Its units stay ' +
      'usable until then; it is not renewed again.',
    'commerce.confirm.cancel_end_submit': 'Cancel at the end of the period',
    'commerce.confirm.renew_title': 'Renew this subscription?',
    'commerce.confirm.renew_lead':
      'Renew {package} of {client}? Its next period is added with its units — starting when the current one ' +
      'ends, {end}, or now if that has passed — and a renewal invoice is issued.',
    'commerce.confirm.renew_submit': 'Renew and invoice',
    'commerce.confirm.recharge_title': 'Recharge this subscription?',
    'commerce.confirm.recharge_lead':
      'Recharge {package} of {client}? One package’s worth of units is added, usable until the current period ' +
      'ends, {end}, and a recharge invoice is issued.',
    'commerce.confirm.recharge_submit': 'Recharge and invoice',
    'commerce.confirm.capture_title': 'Capture this hold?',
    'commerce.confirm.capture_all_lead':
      'Capture all {quantity} held for {client} ({ref})? They are consumed: one consumption, paid by the balances ' +
      'the hold took them from.',
    'commerce.confirm.capture_part_lead':
      'Capture {quantity} of the {held} held for {client} ({ref})? They are consumed: one consumption, paid by the ' +
      'balances the hold took them from. The other {rest} go back to those balances; units of a balance that has ' +
      'expired since are not revived.',
    'commerce.confirm.capture_submit': 'Capture the units',
    'commerce.confirm.release_title': 'Release this hold?',
    'commerce.confirm.release_lead':
      'Release the {quantity} held for {client} ({ref})? They go back to the balances the hold took them from, and ' +
      'nothing is consumed; units of a balance that has expired since are not revived.',
    'commerce.confirm.release_submit': 'Release the hold',
    'commerce.confirm.hold_which': 'The hold: taken {taken}, key {key}.',
    'commerce.confirm.hold_reference': 'Its reference: {reference}.',
  },
  {
    'notice.subscription_sold': 'تم بيع الاشتراك؛ فاتورته أدناه.',
    'notice.subscription_cancelled': 'أُلغي الاشتراك، وأُبطلت الوحدات المتبقية فيه.',
    'notice.subscription_cancel_scheduled': 'سينتهي الاشتراك بنهاية فترته الحالية ولن يُجدَّد.',
    'notice.subscription_suspended': 'أُوقف الاشتراك مؤقتًا: لا تُستخدم أرصدته لأي استهلاك حتى يُستأنف.',
    'notice.subscription_resumed': 'عاد الاشتراك نشطًا.',
    'notice.consumption_applied': 'سُجّل الاستهلاك.',
    'notice.consumption_queued': 'قُبل الاستهلاك وهو بانتظار المعالجة؛ ستعرضه هذه الصفحة بعد تطبيقه.',
    'notice.consumption_reversed': 'عُكس الاستهلاك: أُعيدت وحداته إلى أرصدتها.',
    'notice.reversal_queued': 'قُبل العكس وهو بانتظار المعالجة.',
    'notice.balance_adjusted': 'عُدّل الرصيد.',
    'notice.invoice_paid': 'سُجّل دفع الفاتورة.',
    'notice.invoice_voided': 'أُلغيت الفاتورة.',

    'commerce.span': '{from} ← {to}',

    'commerce.refused.validation_failed': 'رُفض الطلب: بعض القيم غير صالحة.',
    'commerce.refused.not_found': 'رُفض الطلب: ما يشير إليه غير موجود.',
    'commerce.refused.conflict': 'رُفض الطلب: الحالة الحالية لا تسمح به.',
    'commerce.refused.idempotency_conflict':
      'أُرسل هذا النموذج من قبل بقيم أخرى؛ أصبح له مفتاح جديد الآن، فأرسله مجددًا.',
    'commerce.refused.insufficient_balance': 'رُفض الطلب: الرصيد غير كافٍ.',
    'commerce.refused.unavailable': 'لا يمكن الوصول إلى قاعدة البيانات أو الطابور الآن؛ لم يُنفَّذ شيء.',
    'commerce.refused.forbidden': 'رُفض الطلب: لا يملك هذا المفتاح صلاحية تنفيذه.',
    'commerce.refused.other': 'رُفض الطلب.',

    'commerce.error.no_consumption': 'لا يوجد استهلاك كهذا.',
    'commerce.error.no_balance': 'لا يوجد رصيد كهذا.',
    'commerce.error.no_invoice': 'لا توجد فاتورة كهذه.',

    'commerce.client.sell': 'بيع اشتراك',
    'commerce.client.consume': 'تسجيل استهلاك',
    'commerce.client.manage': 'إدارة',
    'commerce.client.invoices': 'الفواتير',

    'commerce.sell.title': 'بيع اشتراك',
    'commerce.sell.package': 'الباقة',
    'commerce.sell.choose_package': 'اختر باقة…',
    'commerce.sell.no_packages': 'لا توجد باقة معروضة للبيع؛ أنشئ باقة أولًا.',
    'commerce.sell.price': 'سعر خاص (اختياري)',
    'commerce.sell.price_hint': 'بعملة الباقة، مثل {example}؛ إن تُرك فارغًا فسعر الباقة.',
    'commerce.sell.starts_at': 'يبدأ في (اختياري)',
    'commerce.sell.starts_at_hint': 'إن تُرك فارغًا فالآن.',
    'commerce.sell.auto_renew': 'التجديد التلقائي',
    'commerce.sell.auto_renew_package': 'حسب إعداد الباقة',
    'commerce.sell.activation': 'التفعيل',
    'commerce.sell.activation_immediate': 'فورًا',
    'commerce.sell.activation_on_payment': 'عند دفع فاتورته',
    'commerce.sell.submit': 'بيع',

    'commerce.subscription.title': 'اشتراك في {package}',
    'commerce.subscription.heading': 'الاشتراك',
    'commerce.subscription.status': 'الحالة',
    'commerce.subscription.period': 'الفترة الحالية',
    'commerce.subscription.price': 'السعر',
    'commerce.subscription.own_price': '(سعر خاص به)',
    'commerce.subscription.renewals': 'مرات التجديد',
    'commerce.subscription.ends_at_period_end': 'ينتهي بنهاية الفترة',
    'commerce.subscription.frozen_until': 'مجمّد حتى',
    'commerce.subscription.suspend': 'إيقاف مؤقت',
    'commerce.subscription.resume': 'استئناف',
    'commerce.subscription.cancel': 'إلغاء الاشتراك',
    'commerce.subscription.cancel_at': 'الإلغاء',
    'commerce.subscription.cancel_period_end': 'بنهاية الفترة (دون تجديد)',
    'commerce.subscription.cancel_now': 'الآن (تُبطل الوحدات المتبقية)',
    'commerce.subscription.cancel_reason': 'السبب (اختياري)',
    'commerce.subscription.freeze_hint': 'التجميد وإلغاء التجميد من صفحة العميل.',
    'commerce.subscription.balances': 'الأرصدة',
    'commerce.subscription.no_balances': 'لا توجد أرصدة.',
    'commerce.subscription.invoices': 'الفواتير',

    'commerce.balance.credit_type': 'نوع الرصيد',
    'commerce.balance.source': 'المصدر',
    'commerce.balance.status': 'الحالة',
    'commerce.balance.remaining': 'المتبقي',
    'commerce.balance.granted': 'الممنوح',
    'commerce.balance.consumed': 'المستهلك',
    'commerce.balance.valid': 'الصلاحية',
    'commerce.balance.expires': 'ينتهي في',
    'commerce.balance.adjust': 'تعديل',
    'commerce.balance.subscription': 'اشتراكه',
    'commerce.balance.grant': 'منحة من المشغّل',
    'commerce.balance.last_entry': 'آخر قيد في السجل: {kind} {amount}، والمتبقي بعده {after} ({at})',

    'commerce.adjust.title': 'تعديل رصيد',
    'commerce.adjust.heading': 'إضافة وحدات أو خصمها',
    'commerce.adjust.delta': 'مقدار التعديل',
    'commerce.adjust.delta_hint': 'بوحدة {unit}: الموجب يضيف والسالب يخصم (مثل {example}).',
    'commerce.adjust.reason': 'السبب',
    'commerce.adjust.submit': 'تعديل',
    'commerce.adjust.insufficient': 'في الرصيد {remaining} فقط؛ لا يمكن خصم {delta} منه. لم يتغير شيء.',

    'commerce.consume.title': 'تسجيل استهلاك',
    'commerce.consume.credit_type': 'نوع الرصيد',
    'commerce.consume.quantity': 'الكمية',
    'commerce.consume.occurred_at': 'وقت الاستهلاك (اختياري)',
    'commerce.consume.occurred_at_hint': 'إن تُرك فارغًا فالآن.',
    'commerce.consume.mode': 'إذا لم يكفِ الرصيد',
    'commerce.consume.mode_reject': 'يُرفض الاستهلاك كله',
    'commerce.consume.mode_partial': 'يُخصم المتاح فقط',
    'commerce.consume.reference': 'مرجع (اختياري)',
    'commerce.consume.dimension_hint': 'يُحفظ لـ: {types}',
    'commerce.consume.quote': 'معاينة',
    'commerce.consume.register': 'تسجيل',
    'commerce.consume.key_hint': 'إرسال هذا النموذج مرتين يسجّله مرة واحدة. مفتاحه:',
    'commerce.consume.no_credit_types': 'لا يوجد نوع رصيد بعد؛ أنشئ نوعًا أولًا.',
    'commerce.consume.insufficient':
      'الرصيد غير كافٍ: لدى العميل {remaining}، والاستهلاك يطلب {quantity}، والنقص {shortfall}. لم يُخصم شيء.',

    'commerce.quote.heading': 'المعاينة',
    'commerce.quote.enough': 'الأرصدة تكفي: سيُخصم {quantity} ويبقى {remaining}.',
    'commerce.quote.partial': 'سيُخصم {applied} فقط، والنقص {shortfall}.',
    'commerce.quote.short':
      'الرصيد غير كافٍ: لدى العميل {remaining}، والاستهلاك يطلب {quantity}، والنقص {shortfall}. سيُرفض.',
    'commerce.quote.nothing_written': 'المعاينة لا تسجّل شيئًا؛ وقد يجد استهلاك يُسجَّل لاحقًا رصيدًا أقل.',
    'commerce.quote.no_allocation': 'لن يُخصم من أي رصيد.',

    'commerce.allocation.heading': 'الأرصدة التي خُصم منها',
    'commerce.allocation.balance': 'الرصيد',
    'commerce.allocation.paid': 'المخصوم',
    'commerce.allocation.would_take': 'سيُخصم',
    'commerce.allocation.left_now': 'المتبقي فيه الآن',
    'commerce.allocation.none': 'لم يُخصم هذا الاستهلاك من أي رصيد.',

    'commerce.consumption.title': 'استهلاك',
    'commerce.consumption.queued': 'بانتظار المعالجة؛ تتحدث هذه الصفحة حتى يُطبَّق.',
    'commerce.consumption.applied': 'المخصوم',
    'commerce.consumption.shortfall': 'النقص',
    'commerce.consumption.remaining': 'المتبقي بعده',
    'commerce.consumption.key': 'مفتاح عدم التكرار',
    'commerce.consumption.occurred_at': 'وقت الاستهلاك',
    'commerce.consumption.reference': 'المرجع',
    'commerce.consumption.reverse': 'عكس الاستهلاك',
    'commerce.consumption.reverse_reason': 'السبب (اختياري)',
    'commerce.consumption.reversed_line':
      'عُكس في {at}: أُعيد {returned} إلى أرصدته، و{expired} كانت أرصدته قد انتهت فلم يُستعد.',
    'commerce.consumption.another': 'تسجيل استهلاك آخر',

    'commerce.invoices.title': 'الفواتير',
    'commerce.invoices.lead': 'كل فواتير المبيعات والتجديدات وإعادات الشحن.',
    'commerce.invoices.filter_status': 'الحالة',
    'commerce.invoices.filter_client': 'العميل (المعرّف أو المرجع الخارجي)',
    'commerce.invoices.any': 'الكل',
    'commerce.invoices.none': 'لا توجد فواتير.',
    'commerce.invoices.client': 'العميل',
    'commerce.invoices.status': 'الحالة',
    'commerce.invoice.number': 'فاتورة رقم {number}',
    'commerce.invoice.number_short': 'الرقم',
    'commerce.invoice.kind': 'النوع',
    'commerce.invoice.kind.subscription': 'بيع',
    'commerce.invoice.kind.renewal': 'تجديد',
    'commerce.invoice.kind.recharge': 'إعادة شحن',
    'commerce.invoice.issued_at': 'تاريخ الإصدار',
    'commerce.invoice.period': 'الفترة',
    'commerce.invoice.paid_at': 'تاريخ الدفع',
    'commerce.invoice.voided_at': 'تاريخ الإلغاء',
    'commerce.invoice.line': 'البند',
    'commerce.invoice.quantity': 'الكمية',
    'commerce.invoice.amount': 'المبلغ',
    'commerce.invoice.total': 'الإجمالي',
    'commerce.invoice.subscription': 'اشتراكها',
    'commerce.invoice.pay': 'تسجيل الدفع',
    'commerce.invoice.void': 'إلغاء الفاتورة',
    'commerce.invoice.void_reason': 'سبب الإلغاء (اختياري)',

    'commerce.confirm.final': 'لا يمكن التراجع عن هذا.',
    'commerce.confirm.back': 'رجوع دون تغيير',
    'commerce.confirm.reverse_title': 'عكس هذا الاستهلاك؟',
    'commerce.confirm.reverse_lead':
      'عكس استهلاك {quantity} للعميل {client} ({ref})؟ تعود وحداته إلى الأرصدة التي دفعت عنه؛ ولا تعود وحدات ' +
      'رصيد انتهت صلاحيته منذ ذلك الحين. يبقى الاستهلاك في كشف الحساب موسومًا بأنه معكوس.',
    'commerce.confirm.reverse_submit': 'اعكس الاستهلاك',
    'commerce.confirm.void_title': 'إلغاء هذه الفاتورة؟',
    'commerce.confirm.void_lead': 'إلغاء الفاتورة {number} ({total})؟ لن يمكن دفعها بعد ذلك.',
    'commerce.confirm.void_units_stay':
      'لا تُسترد الوحدات التي منحتها: تبقى في أرصدة العميل. لاستردادها عدّل تلك الأرصدة.',
    'commerce.confirm.void_pending': 'اشتراكها لم يبدأ بعد: يُلغى، وتُبطل الوحدات التي كان سيمنحها.',
    'commerce.confirm.void_submit': 'ألغِ الفاتورة',
    'commerce.confirm.cancel_now_title': 'إلغاء هذا الاشتراك الآن؟',
    'commerce.confirm.cancel_now_lead':
      'إلغاء {package} للعميل {client} الآن؟ تُبطل وحداته المتبقية فورًا ولا يمكن استخدامها بعد ذلك، وتُلغى ' +
      'فواتيره غير المدفوعة لفترات لم تبدأ بعد. ولن يُجدَّد.',
    'commerce.confirm.cancel_now_submit': 'ألغِه الآن',
    'commerce.confirm.cancel_end_title': 'إلغاء هذا الاشتراك بنهاية فترته؟',
    'commerce.confirm.cancel_end_lead':
      'إلغاء {package} للعميل {client} بنهاية فترته ({end})؟ تبقى وحداته صالحة للاستخدام حتى ذلك الحين، ولن يُجدَّد.',
    'commerce.confirm.cancel_end_ahead_lead':
      'إلغاء {package} للعميل {client} بنهاية فترته؟ جُدِّد مسبقًا للفترة من {start} إلى {end}: إن لم يُدفع هذا ' +
      'التجديد يُسترد (تُلغى فاتورته ولا تُمنح وحداته) وينتهي الاشتراك في {start}؛ وإن دُفع يبقى وينتهي الاشتراك ' +
      'في {end}. تبقى وحداته صالحة للاستخدام حتى ذلك الحين، ولن يُجدَّد مرة أخرى.',
    'commerce.confirm.cancel_end_submit': 'ألغِه بنهاية الفترة',
    'commerce.confirm.renew_title': 'تجديد هذا الاشتراك؟',
    'commerce.confirm.renew_lead':
      'تجديد {package} للعميل {client}؟ تُضاف فترته التالية بوحداتها — تبدأ عند انتهاء الفترة الحالية، {end}، أو ' +
      'الآن إن كانت قد انتهت — وتصدر فاتورة تجديد.',
    'commerce.confirm.renew_submit': 'جدّد وأصدر الفاتورة',
    'commerce.confirm.recharge_title': 'إعادة شحن هذا الاشتراك؟',
    'commerce.confirm.recharge_lead':
      'إعادة شحن {package} للعميل {client}؟ تُضاف وحدات باقة كاملة صالحة حتى نهاية الفترة الحالية، {end}، ' +
      'وتصدر فاتورة إعادة شحن.',
    'commerce.confirm.recharge_submit': 'اشحن وأصدر الفاتورة',
    'commerce.confirm.capture_title': 'تحصيل هذا الحجز؟',
    'commerce.confirm.capture_all_lead':
      'تحصيل كل المحجوز، {quantity}، للعميل {client} ({ref})؟ تُستهلك الوحدات: استهلاك واحد تدفعه الأرصدة التي ' +
      'أخذها الحجز منها.',
    'commerce.confirm.capture_part_lead':
      'تحصيل {quantity} من المحجوز البالغ {held} للعميل {client} ({ref})؟ تُستهلك الوحدات: استهلاك واحد تدفعه ' +
      'الأرصدة التي أخذها الحجز منها. ويعود الباقي، {rest}، إلى تلك الأرصدة؛ ولا تعود وحدات رصيد انتهت صلاحيته ' +
      'منذ ذلك الحين.',
    'commerce.confirm.capture_submit': 'حصّل الوحدات',
    'commerce.confirm.release_title': 'الإفراج عن هذا الحجز؟',
    'commerce.confirm.release_lead':
      'الإفراج عن المحجوز، {quantity}، للعميل {client} ({ref})؟ تعود الوحدات إلى الأرصدة التي أخذها الحجز منها، ' +
      'ولا يُستهلك شيء؛ ولا تعود وحدات رصيد انتهت صلاحيته منذ ذلك الحين.',
    'commerce.confirm.release_submit': 'أفرِج عن الحجز',
    'commerce.confirm.hold_which': 'الحجز: أُخذ في {taken}، ومفتاحه {key}.',
    'commerce.confirm.hold_reference': 'مرجعه: {reference}.',
  },
);
