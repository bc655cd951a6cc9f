import { defineMessages } from '../catalog.js';

/** The messages of the admin area (keys prefixed `admin.`, notices `notice.<code>`): API keys and the audit trail. */
export const adminMessages = defineMessages(
  {
    'admin.keys.title': 'API keys',
    'admin.keys.lead':
      'Keys let other systems call the API, and people sign in to these pages with an admin key. A key is shown ' +
      'once, when it is made: only a hash of it is stored.',
    'admin.keys.create_title': 'Make a key',
    'admin.keys.name': 'Name',
    'admin.keys.scope': 'Scope',
    'admin.keys.scope_read': 'read: look only',
    'admin.keys.scope_write': 'write: report use, sell, renew (and read)',
    'admin.keys.scope_admin': 'admin: everything, including the catalogue, keys and these pages',
    'admin.keys.create_submit': 'Make the key',
    'admin.keys.list_title': 'Keys',
    'admin.keys.empty': 'No keys yet.',
    'admin.keys.col_name': 'Name',
    'admin.keys.col_prefix': 'Starts with',
    'admin.keys.col_scopes': 'Scopes',
    'admin.keys.col_created': 'Made',
    'admin.keys.col_last_used': 'Last used',
    'admin.keys.never_used': 'never',
    'admin.keys.col_status': 'Status',
    'admin.keys.col_actions': 'Actions',
    'admin.keys.revoked_on': 'since {date}',
    'admin.keys.yours': 'the key of this session',
    'admin.keys.revoke': 'Revoke…',
    'admin.keys.made_title': 'The new key',
    'admin.keys.made_lead':
      'This is the only time the key is shown. Copy it now and keep it somewhere safe: it cannot be shown again. ' +
      'If it is lost, revoke it and make another.',
    'admin.keys.made_key': 'Key',
    'admin.keys.made_copy':
      'Click in the box, select all of it ({select_all}, or {select_all_mac} on a Mac) ' +
      'and copy it ({copy}, or {copy_mac}).',
    'admin.keys.made_details': 'Name {name}, scopes {scopes}, made {date}.',
    'admin.keys.made_back': 'I have copied it: back to the keys',
    'admin.keys.sent_twice':
      'This form was sent already, and the key it made ({prefix}) is shown only once. If it was not copied, ' +
      'revoke it and make another.',
    'admin.keys.refused': 'The key could not be made: {reason}',
    'admin.keys.confirm_title': 'Revoke a key',
    'admin.keys.confirm_lead':
      'Revoke the key {name} ({prefix})? Every program using it is refused from now on, and the sessions of ' +
      'these pages opened with it end. This cannot be undone.',
    'admin.keys.confirm_own': 'This is the key of your own session: you will be signed out.',
    'admin.keys.confirm_submit': 'Revoke the key',
    'admin.keys.last_admin': 'This is the last admin key: make another admin key before revoking it.',
    'admin.keys.no_key': 'No such key.',
    'admin.audit.title': 'Audit trail',
    'admin.audit.lead':
      'Who changed what: every change made in these pages, every admin change through the API (catalogue and ' +
      'prices, keys, webhook endpoints, grants, the clock) and keys made or revoked with the command line. ' +
      'Refused attempts are listed too, with their outcome. Nothing here can be changed or deleted.',
    'admin.audit.filters': 'Filter the trail',
    'admin.audit.actor': 'Who (name or key id)',
    'admin.audit.action': 'Action (part of it)',
    'admin.audit.origin': 'Through',
    'admin.audit.origin_any': 'anything',
    'admin.audit.origin_api': 'the API',
    'admin.audit.origin_ui': 'these pages',
    'admin.audit.origin_cli': 'the command line',
    'admin.audit.from': 'From (date)',
    'admin.audit.to': 'Until (date, included)',
    'admin.audit.filter_submit': 'Filter',
    'admin.audit.filter_clear': 'Show all',
    'admin.audit.bad_date': 'Give a date as {format}.',
    'admin.audit.empty': 'Nothing recorded matches.',
    'admin.audit.col_at': 'When',
    'admin.audit.col_actor': 'Who',
    'admin.audit.col_origin': 'Through',
    'admin.audit.col_action': 'Action',
    'admin.audit.col_target': 'Target',
    'admin.audit.col_status': 'Outcome',
    'admin.audit.col_request': 'Request',
    'admin.audit.done': 'done',
    'admin.audit.refused': 'refused',
    'admin.audit.show_request': 'Show',
    'admin.audit.request_id': 'request {id}',
    'notice.api_key_revoked': 'The key is revoked: it is refused from now on.',
  },
  {
    'admin.keys.title': 'مفاتيح الواجهة البرمجية',
    'admin.keys.lead':
      'تتيح المفاتيح للأنظمة الأخرى استدعاء الواجهة البرمجية، ويسجّل بها الأشخاص الدخول إلى هذه الصفحات بمفتاح ' +
      'مدير. يُعرض المفتاح مرة واحدة فقط عند إنشائه، ولا يُحفظ منه إلا بصمته المشفّرة.',
    'admin.keys.create_title': 'إنشاء مفتاح',
    'admin.keys.name': 'الاسم',
    'admin.keys.scope': 'الصلاحية',
    'admin.keys.scope_read': 'قراءة: اطّلاع فقط',
    'admin.keys.scope_write': 'كتابة: تسجيل الاستهلاك والبيع والتجديد (مع القراءة)',
    'admin.keys.scope_admin': 'مدير: كل شيء، بما في ذلك الكتالوج والمفاتيح وهذه الصفحات',
    'admin.keys.create_submit': 'أنشئ المفتاح',
    'admin.keys.list_title': 'المفاتيح',
    'admin.keys.empty': 'لا توجد مفاتيح بعد.',
    'admin.keys.col_name': 'الاسم',
    'admin.keys.col_prefix': 'يبدأ بـ',
    'admin.keys.col_scopes': 'الصلاحيات',
    'admin.keys.col_created': 'أُنشئ في',
    'admin.keys.col_last_used': 'آخر استخدام',
    'admin.keys.never_used': 'لم يُستخدم',
    'admin.keys.col_status': 'الحالة',
    'admin.keys.col_actions': 'إجراءات',
    'admin.keys.revoked_on': 'منذ {date}',
    'admin.keys.yours': 'مفتاح هذه الجلسة',
    'admin.keys.revoke': 'إلغاء…',
    'admin.keys.made_title': 'المفتاح الجديد',
    'admin.keys.made_lead':
      'هذه هي المرة الوحيدة التي يُعرض فيها المفتاح. انسخه الآن واحفظه في مكان آمن، فلا يمكن عرضه مرة أخرى. ' +
      'وإن ضاع فألغِه وأنشئ مفتاحًا آخر.',
    'admin.keys.made_key': 'المفتاح',
    'admin.keys.made_copy':
      'انقر داخل المربع، وحدّد محتواه كله ({select_all}، أو {select_all_mac} على ماك) ' +
      'ثم انسخه ({copy}، أو {copy_mac}).',
    'admin.keys.made_details': 'الاسم {name}، الصلاحيات {scopes}، أُنشئ في {date}.',
    'admin.keys.made_back': 'نسختُه: العودة إلى المفاتيح',
    'admin.keys.sent_twice':
      'أُرسل هذا النموذج من قبل، والمفتاح الذي أنشأه ({prefix}) لا يُعرض إلا مرة واحدة. إن لم يُنسخ فألغِه ' +
      'وأنشئ مفتاحًا آخر.',
    'admin.keys.refused': 'تعذّر إنشاء المفتاح: {reason}',
    'admin.keys.confirm_title': 'إلغاء مفتاح',
    'admin.keys.confirm_lead':
      'هل تريد إلغاء المفتاح {name} ({prefix})؟ سيُرفض كل برنامج يستخدمه من الآن فصاعدًا، وتنتهي جلسات هذه ' +
      'الصفحات التي فُتحت به. لا يمكن التراجع عن ذلك.',
    'admin.keys.confirm_own': 'هذا مفتاح جلستك أنت: سيُسجَّل خروجك.',
    'admin.keys.confirm_submit': 'ألغِ المفتاح',
    'admin.keys.last_admin': 'هذا آخر مفتاح مدير: أنشئ مفتاح مدير آخر قبل إلغائه.',
    'admin.keys.no_key': 'لا يوجد مفتاح كهذا.',
    'admin.audit.title': 'سجل التدقيق',
    'admin.audit.lead':
      'من غيّر ماذا: كل تغيير أُجري في هذه الصفحات، وكل تغيير إداري عبر الواجهة البرمجية (الكتالوج والأسعار ' +
      'والمفاتيح ونقاط استقبال الخطافات والمنح والساعة)، والمفاتيح التي أُنشئت أو أُلغيت من سطر الأوامر. ' +
      'وتُدرج المحاولات المرفوضة أيضًا مع نتيجتها. لا يمكن تعديل شيء هنا ولا حذفه.',
    'admin.audit.filters': 'تصفية السجل',
    'admin.audit.actor': 'المنفّذ (الاسم أو معرّف المفتاح)',
    'admin.audit.action': 'الإجراء (جزء منه)',
    'admin.audit.origin': 'عبر',
    'admin.audit.origin_any': 'أي مصدر',
    'admin.audit.origin_api': 'الواجهة البرمجية',
    'admin.audit.origin_ui': 'هذه الصفحات',
    'admin.audit.origin_cli': 'سطر الأوامر',
    'admin.audit.from': 'من (تاريخ)',
    'admin.audit.to': 'حتى (تاريخ، ضمنًا)',
    'admin.audit.filter_submit': 'تصفية',
    'admin.audit.filter_clear': 'عرض الكل',
    'admin.audit.bad_date': 'أدخل التاريخ بالصيغة {format}.',
    'admin.audit.empty': 'لا توجد سجلات مطابقة.',
    'admin.audit.col_at': 'الوقت',
    'admin.audit.col_actor': 'المنفّذ',
    'admin.audit.col_origin': 'عبر',
    'admin.audit.col_action': 'الإجراء',
    'admin.audit.col_target': 'الهدف',
    'admin.audit.col_status': 'النتيجة',
    'admin.audit.col_request': 'الطلب',
    'admin.audit.done': 'تمّ',
    'admin.audit.refused': 'مرفوض',
    'admin.audit.show_request': 'عرض',
    'admin.audit.request_id': 'الطلب {id}',
    'notice.api_key_revoked': 'أُلغي المفتاح: سيُرفض من الآن فصاعدًا.',
  },
);
