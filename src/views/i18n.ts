/**
 * Page texts in English and Simplified Chinese, chosen by `Accept-Language` (RFC 9110 12.5.4). Every key exists in
 * both catalogs (the type checker enforces it); `{name}` placeholders are filled by {@link Translator}.
 */
const en = {
  'lang.tag': 'en',
  'common.error.title': 'Something went wrong',
  'common.error.generic': 'Something went wrong on our side. Try again.',
  'error.title.wait': 'Please wait',
  'error.title.cannot': 'Cannot continue',
  'throttle.wait': 'Too many attempts. Wait {minutes, plural, one {# minute} other {# minutes}}, then try again.',
  'error.interactionGone': 'This sign-in has expired or was opened in another browser. Go back to the app and start again.',
  'error.interactionOther': 'This sign-in does not belong to this browser session.',
  'error.formExpired': 'This form has expired. Go back and try again.',
  'error.formReload': 'This form has expired. Reload the page.',
  'error.formScan': 'This form has expired. Scan the code again.',
  'error.step': 'This step is not available now. Go back to the app and start again.',
  'error.deviceSessionGone': 'This sign-in has expired or was opened in another browser. Start again on your device.',
  'error.qrOff': 'Signing in with a phone is turned off for this application. Use your password.',
  'error.qrNotApproved': 'This code was not approved, or was already used. Reload the page for a new one.',
  'error.freshLogin': 'This application asks you to sign in again here. Use your password.',
  'error.maxAge': 'This application needs a more recent sign-in than your phone’s. Use your password.',
  'error.phoneSignIn': 'Sign in on this phone again, then scan the code again.',
  'error.accountSignIn': 'Sign in again to manage your devices.',
  'entry.title': 'Connect a device',
  'entry.lead': 'Enter the code shown on the device you want to sign in.',
  'entry.label': 'Code',
  'entry.submit': 'Continue',
  'entry.error.empty': 'Enter the code shown on your device.',
  'entry.error.notFound': 'That code is not valid. Check the code on your device and try again.',
  'entry.error.generic': 'Something went wrong. Start again on your device.',
  'throttle.title': 'Too many attempts',
  'throttle.body': 'Too many wrong codes were entered. Wait {minutes, plural, one {# minute} other {# minutes}}, then try again.',
  'confirm.title': 'Sign in to {client} on your device?',
  'confirm.compare': 'Check that this code matches the one on your device’s screen:',
  'confirm.asks': 'It asks for:',
  'confirm.device': 'Requesting device',
  'confirm.ip': 'IP address',
  'confirm.when': 'Requested',
  'confirm.question': 'Did you start this on a device in front of you?',
  'confirm.otherNetwork': 'This device is on a different network from your phone. If it is not in front of you, decline.',
  'confirm.mustBeNear':
    'This app can only be approved from a phone on the same network as the device. Connect your phone to the device’s network (Wi-Fi) and open the code again, or decline.',
  'confirm.report': 'I didn’t start this',
  'reported.title': 'Thanks for telling us',
  'reported.body':
    'The sign-in was refused and nothing was shared. Someone may have sent you this code to get into your account: never approve a code you did not ask for on a device in front of you.',
  'qrPhone.report': 'I didn’t start this',
  'qrPhone.mustBeNear':
    'This app can only be approved from a phone on the same network as the computer. Connect your phone to the computer’s network (Wi-Fi) and scan again, or decline.',
  'confirm.warning':
    'If someone sent you this code or link, or you are not sure, decline. Approving gives that device access to your account.',
  'confirm.approve': 'Yes, approve',
  'confirm.decline': 'No, decline',
  'success.title': 'Device connected',
  'success.body': '{client} is now signed in. It will continue by itself in a moment; you can close this page.',
  'denied.title': 'Sign-in declined',
  'denied.body': 'Nothing was shared. The device will show that the sign-in was declined. You can close this page.',
  'expired.title': 'Code expired',
  'expired.body': 'This code is no longer valid. Start again on your device to get a new code.',
  'used.title': 'Code already used',
  'used.body': 'This code has already been used. Start again on your device to get a new code.',
  'time.justNow': 'just now',
  'ua.unknown': 'Unknown device',
  'ua.on': '{app} on {os}',
  'scope.openid': 'Confirm who you are (your account id)',
  'scope.profile': 'Your name and username',
  'scope.email': 'Your email address',
  'scope.offline_access': 'Stay signed in when you are not using it',
  'scope.other': 'Access to “{scope}”',
  'login.title': 'Sign in to continue to {client}',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.wrong': 'Wrong username or password.',
  'login.throttled': 'Too many failed sign-in attempts. Try again in {minutes, plural, one {# minute} other {# minutes}}.',
  'consent.title': '{client} wants to access your account',
  'consent.signedInAs': 'Signed in as {account}. It will be able to:',
  'consent.allow': 'Allow',
  'consent.deny': 'Decline',
  'account.signedInAs': 'Signed in as {name}',
  'account.signOut': 'Sign out',
  'account.cancel': 'Cancel',
  'devices.confirm.title': 'End this sign-in',
  'devices.confirm.detail': 'It will be signed out at once and must be approved again to sign in.',
  'apps.title': 'Apps you allowed',
  'apps.lead': 'Apps that can sign you in without asking again. Removing one makes it ask next time.',
  'apps.none': 'You have not allowed any app yet.',
  'apps.allowed': 'Allowed',
  'apps.remove': 'Remove access',
  'apps.confirm.title': 'Remove access',
  'apps.confirm.detail': 'This app will ask for your permission again the next time you sign in to it.',
  'home.title': 'Handoff',
  'home.lead':
    'Handoff signs you in on TVs, command-line tools and computers with the phone you are already signed in on: scan the code they show, check who is asking, and approve.',
  'home.signIn': 'Sign in',
  'home.account': 'Your account',
  'home.connect': 'Enter a code from a device',
  'logout.title': 'Sign out',
  'logout.question': 'Sign out of Handoff on this browser?',
  'logout.client': 'You are signing out of {client} too.',
  'logout.yes': 'Sign out',
  'logout.no': 'Stay signed in',
  'logout.done.title': 'Signed out',
  'logout.done.body': 'You are signed out of Handoff on this browser.',
  'error.passkey': 'Signing in with the passkey did not work. Try again, or use your password.',
  'error.passkeyRequired': 'This application asks for a passkey. Go back and sign in with a passkey.',
  'login.passkey': 'Sign in with a passkey',
  'login.passkeyRequired': '{client} asks for a phishing-resistant sign-in: sign in with a passkey to continue.',
  'login.noPasskeySupport': 'This browser cannot use passkeys. Use another browser, or your password.',
  'passkeys.title': 'Passkeys',
  'passkeys.lead': 'Sign in without a password, with your phone, computer or security key. A passkey cannot be phished.',
  'passkeys.add': 'Add a passkey',
  'passkeys.none': 'No passkeys yet.',
  'passkeys.added': 'Added',
  'passkeys.lastUsed': 'Last used',
  'passkeys.never': 'never',
  'passkeys.name': 'Name',
  'passkeys.placeholder': 'e.g. Work laptop',
  'passkeys.rename': 'Rename',
  'passkeys.remove': 'Remove',
  'passkeys.confirm.title': 'Remove this passkey',
  'passkeys.confirm.detail': 'It stops working here at once. Remove it from your device’s passkey list too.',
  'passkeys.failed': 'The passkey was not added. Try again.',
  'signedIn.passkey': 'This phone is signed in with a passkey.',
  'signedIn.password': 'This phone is signed in with a password.',
  'confirm.needsPasskey':
    'This app can only be approved from a phone signed in with a passkey. Sign in with a passkey, then open the code again.',
  'account.recent': 'Recent sign-ins',
  'account.method.passkey': 'with a passkey',
  'account.method.password': 'with a password',
  'devices.title': 'Your devices',
  'devices.lead': 'Devices and computers you signed in from this account. End any you do not recognise or no longer use.',
  'devices.kind': 'Signed in by',
  'devices.kind.device': 'a code on this device',
  'devices.kind.desktop': 'scanning a code on a computer',
  'devices.none': 'You have not signed in any device yet.',
  'devices.approved': 'Approved',
  'devices.revoke': 'Revoke',
  'devices.revoked': 'Revoked',
  'devices.signIn': 'Sign in to see your devices',
  'qr.title': 'Sign in with your phone',
  'qr.lead': 'Scan this code with the camera of a phone where you are already signed in.',
  'qr.alt': 'QR code to sign in with your phone',
  'qr.scanned': 'Scanned. Confirm on your phone.',
  'qr.denied': 'The sign-in was declined on the phone.',
  'qr.paused': 'The code is paused.',
  'qr.fresh': 'Show a new code',
  'qr.or': 'or use your password',
  'qrPhone.title': 'Sign in to {client} on your computer?',
  'qrPhone.lead': 'A computer is asking to sign in to {client} as you.',
  'qrPhone.computer': 'Computer',
  'qrPhone.otherNetwork': 'This computer is on a different network from your phone. If it is not in front of you, decline.',
  'qrPhone.question': 'Is this computer in front of you?',
  'qrPhone.approved.title': 'Computer signed in',
  'qrPhone.approved.body': 'The other device is now signed in to {client} as you. You can close this page.',
  'qrPhone.denied.body': 'Nothing was shared. The computer shows that the sign-in was declined.',
  'qrPhone.claimed.title': 'Already in use',
  'qrPhone.claimed.body': 'This code is already being confirmed on another phone.',
  'qrPhone.expired.title': 'Code expired',
  'qrPhone.expired.body': 'This code is no longer valid. Show a new code on your computer and scan it again.',
  'qrPhone.unknown.title': 'Code not valid',
  'qrPhone.unknown.body': 'This code is not valid or was already used. Show a new code on your computer.',
} as const;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'lang.tag': 'zh-CN',
  'common.error.title': '出错了',
  'common.error.generic': '我们这边出了点问题，请重试。',
  'error.title.wait': '请稍候',
  'error.title.cannot': '无法继续',
  'throttle.wait': '尝试次数过多。请等待 {minutes} 分钟后重试。',
  'error.interactionGone': '此登录已过期，或是在另一个浏览器中打开的。请返回应用重新开始。',
  'error.interactionOther': '此登录不属于当前浏览器会话。',
  'error.formExpired': '此表单已过期。请返回后重试。',
  'error.formReload': '此表单已过期。请刷新页面。',
  'error.formScan': '此表单已过期。请重新扫描二维码。',
  'error.step': '此步骤当前不可用。请返回应用重新开始。',
  'error.deviceSessionGone': '此登录已过期，或是在另一个浏览器中打开的。请在设备上重新开始。',
  'error.qrOff': '此应用已关闭手机扫码登录。请使用密码。',
  'error.qrNotApproved': '此二维码未获批准或已被使用。请刷新页面获取新的二维码。',
  'error.freshLogin': '此应用要求你在这里重新登录。请使用密码。',
  'error.maxAge': '此应用需要比你手机上更近的登录。请使用密码。',
  'error.phoneSignIn': '请在此手机上重新登录，然后再次扫描二维码。',
  'error.accountSignIn': '请重新登录以管理你的设备。',
  'entry.title': '连接设备',
  'entry.lead': '输入要登录的设备上显示的代码。',
  'entry.label': '代码',
  'entry.submit': '继续',
  'entry.error.empty': '请输入设备上显示的代码。',
  'entry.error.notFound': '代码无效。请核对设备上的代码后重试。',
  'entry.error.generic': '出了点问题。请在设备上重新开始。',
  'throttle.title': '尝试次数过多',
  'throttle.body': '输入错误代码的次数过多。请等待 {minutes} 分钟后重试。',
  'confirm.title': '要在你的设备上登录 {client} 吗？',
  'confirm.compare': '请核对此代码与设备屏幕上显示的是否一致：',
  'confirm.asks': '它请求：',
  'confirm.device': '请求的设备',
  'confirm.ip': 'IP 地址',
  'confirm.when': '请求时间',
  'confirm.question': '这是你在面前的设备上发起的吗？',
  'confirm.otherNetwork': '此设备与你的手机不在同一网络。如果它不在你面前，请拒绝。',
  'confirm.mustBeNear': '此应用只能由与设备在同一网络的手机批准。请将手机连接到设备所在的网络（Wi-Fi）后重新打开代码，或拒绝。',
  'confirm.report': '这不是我发起的',
  'reported.title': '感谢你的反馈',
  'reported.body': '登录已被拒绝，没有共享任何信息。可能有人发给你这个代码以进入你的账户：请不要批准不是你在面前的设备上请求的代码。',
  'qrPhone.report': '这不是我发起的',
  'qrPhone.mustBeNear': '此应用只能由与电脑在同一网络的手机批准。请将手机连接到电脑所在的网络（Wi-Fi）后重新扫描，或拒绝。',
  'confirm.warning': '如果是别人发给你的代码或链接，或者你不确定，请拒绝。批准后该设备将可以访问你的账户。',
  'confirm.approve': '是，批准',
  'confirm.decline': '否，拒绝',
  'success.title': '设备已连接',
  'success.body': '{client} 已登录，稍后会自动继续。你可以关闭此页面。',
  'denied.title': '已拒绝登录',
  'denied.body': '没有共享任何信息。设备上会显示登录已被拒绝。你可以关闭此页面。',
  'expired.title': '代码已过期',
  'expired.body': '此代码已失效。请在设备上重新开始以获取新代码。',
  'used.title': '代码已被使用',
  'used.body': '此代码已被使用。请在设备上重新开始以获取新代码。',
  'time.justNow': '刚刚',
  'ua.unknown': '未知设备',
  'ua.on': '{os} 上的 {app}',
  'scope.openid': '确认你的身份（账户 ID）',
  'scope.profile': '你的姓名和用户名',
  'scope.email': '你的电子邮件地址',
  'scope.offline_access': '在你不使用时保持登录',
  'scope.other': '访问“{scope}”',
  'login.title': '登录以继续使用 {client}',
  'login.username': '用户名',
  'login.password': '密码',
  'login.submit': '登录',
  'login.wrong': '用户名或密码错误。',
  'login.throttled': '登录失败次数过多。请在 {minutes} 分钟后重试。',
  'consent.title': '{client} 想要访问你的账户',
  'consent.signedInAs': '已登录为 {account}。它将能够：',
  'consent.allow': '允许',
  'consent.deny': '拒绝',
  'account.signedInAs': '已登录为 {name}',
  'account.signOut': '退出登录',
  'account.cancel': '取消',
  'devices.confirm.title': '结束此登录',
  'devices.confirm.detail': '它将立即退出登录，需再次批准才能登录。',
  'apps.title': '你允许的应用',
  'apps.lead': '这些应用可以直接让你登录而无需再次询问。移除后，下次登录时会再次询问。',
  'apps.none': '你还没有允许任何应用。',
  'apps.allowed': '允许于',
  'apps.remove': '移除访问权限',
  'apps.confirm.title': '移除访问权限',
  'apps.confirm.detail': '下次你登录此应用时，它会再次请求你的许可。',
  'home.title': 'Handoff',
  'home.lead': 'Handoff 让你用已登录的手机登录电视、命令行工具和电脑：扫描它们显示的二维码，确认请求方，然后批准。',
  'home.signIn': '登录',
  'home.account': '你的账户',
  'home.connect': '输入设备上的代码',
  'logout.title': '退出登录',
  'logout.question': '要在此浏览器上退出 Handoff 吗？',
  'logout.client': '你也将退出 {client}。',
  'logout.yes': '退出登录',
  'logout.no': '保持登录',
  'logout.done.title': '已退出登录',
  'logout.done.body': '你已在此浏览器上退出 Handoff。',
  'error.passkey': '使用通行密钥登录失败。请重试，或使用密码。',
  'error.passkeyRequired': '此应用要求使用通行密钥。请返回并使用通行密钥登录。',
  'login.passkey': '使用通行密钥登录',
  'login.passkeyRequired': '{client} 要求防钓鱼的登录方式：请使用通行密钥登录以继续。',
  'login.noPasskeySupport': '此浏览器无法使用通行密钥。请换用其他浏览器，或使用密码。',
  'passkeys.title': '通行密钥',
  'passkeys.lead': '无需密码，用你的手机、电脑或安全密钥登录。通行密钥无法被钓鱼。',
  'passkeys.add': '添加通行密钥',
  'passkeys.none': '还没有通行密钥。',
  'passkeys.added': '添加于',
  'passkeys.lastUsed': '上次使用',
  'passkeys.never': '从未',
  'passkeys.name': '名称',
  'passkeys.placeholder': '例如：工作电脑',
  'passkeys.rename': '重命名',
  'passkeys.remove': '移除',
  'passkeys.confirm.title': '移除此通行密钥',
  'passkeys.confirm.detail': '它将立即在此失效。也请从你设备的通行密钥列表中移除它。',
  'passkeys.failed': '未能添加通行密钥。请重试。',
  'signedIn.passkey': '此手机已使用通行密钥登录。',
  'signedIn.password': '此手机已使用密码登录。',
  'confirm.needsPasskey': '此应用只能由使用通行密钥登录的手机批准。请使用通行密钥登录后重新打开代码。',
  'account.recent': '最近的登录',
  'account.method.passkey': '使用通行密钥',
  'account.method.password': '使用密码',
  'devices.title': '你的设备',
  'devices.lead': '你用此账户登录过的设备和电脑。结束你不认识或不再使用的登录。',
  'devices.kind': '登录方式',
  'devices.kind.device': '在设备上输入代码',
  'devices.kind.desktop': '扫描电脑上的二维码',
  'devices.none': '你还没有登录过任何设备。',
  'devices.approved': '批准于',
  'devices.revoke': '撤销',
  'devices.revoked': '已撤销',
  'devices.signIn': '登录以查看你的设备',
  'qr.title': '用手机登录',
  'qr.lead': '用已登录的手机相机扫描此二维码。',
  'qr.alt': '用手机登录的二维码',
  'qr.scanned': '已扫描。请在手机上确认。',
  'qr.denied': '已在手机上拒绝登录。',
  'qr.paused': '二维码已暂停。',
  'qr.fresh': '显示新的二维码',
  'qr.or': '或使用密码',
  'qrPhone.title': '要在电脑上登录 {client} 吗？',
  'qrPhone.lead': '一台电脑正在请求以你的身份登录 {client}。',
  'qrPhone.computer': '电脑',
  'qrPhone.otherNetwork': '这台电脑与你的手机不在同一网络。如果它不在你面前，请拒绝。',
  'qrPhone.question': '这台电脑在你面前吗？',
  'qrPhone.approved.title': '电脑已登录',
  'qrPhone.approved.body': '另一台设备已以你的身份登录 {client}。你可以关闭此页面。',
  'qrPhone.denied.body': '没有共享任何信息。电脑上会显示登录已被拒绝。',
  'qrPhone.claimed.title': '已在使用中',
  'qrPhone.claimed.body': '此二维码正在另一部手机上确认。',
  'qrPhone.expired.title': '二维码已过期',
  'qrPhone.expired.body': '此二维码已失效。请在电脑上显示新的二维码后重新扫描。',
  'qrPhone.unknown.title': '二维码无效',
  'qrPhone.unknown.body': '此二维码无效或已被使用。请在电脑上显示新的二维码。',
};

const CATALOGS = { en: en as Record<MessageKey, string>, zh };
export type Lang = keyof typeof CATALOGS;

export type Translator = ((key: MessageKey, vars?: Record<string, string | number>) => string) & { lang: Lang };

/** The locale each catalogue is written for (plural rules, dates, relative times). */
export const LOCALES: Record<Lang, string> = { en: 'en', zh: 'zh-CN' };

/**
 * Fills a message: `{name}` takes a value; `{name, plural, one {# minute} other {# minutes}}` (ICU's plural form, a
 * subset) picks the branch `Intl.PluralRules` names for the number in the reader's language, `#` being the number.
 */
function format(message: string, vars: Record<string, string | number>, rules: Intl.PluralRules): string {
  return message
    .replace(/\{(\w+), plural, ((?:[\w=]+ \{[^{}]*\}\s*)+)\}/g, (m, name: string, branches: string) => {
      const n = Number(vars[name]);
      if (!(name in vars) || !Number.isFinite(n)) return m;
      const options = new Map([...branches.matchAll(/([\w=]+) \{([^{}]*)\}/g)].map((b) => [b[1] as string, b[2] as string]));
      const chosen = options.get(`=${n}`) ?? options.get(rules.select(n)) ?? options.get('other') ?? '';
      return chosen.replace(/#/g, String(n));
    })
    .replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** One translator per language, made once (its plural rules are an ICU object, costly to build per page). */
const translators = new Map<Lang, Translator>();

export function translator(lang: Lang): Translator {
  const known = translators.get(lang);
  if (known) return known;
  const catalog = CATALOGS[lang];
  const rules = new Intl.PluralRules(LOCALES[lang]);
  const t = Object.assign((key: MessageKey, vars: Record<string, string | number> = {}) => format(catalog[key], vars, rules), { lang });
  translators.set(lang, t);
  return t;
}

/** The best of our languages for an `Accept-Language` header; English when nothing matches. */
export function pickLanguage(header: string | undefined): Lang {
  let best: { lang: Lang; q: number } = { lang: 'en', q: 0 };
  for (const part of (header ?? '').split(',').slice(0, 20)) {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!range || !Number.isFinite(q) || q <= 0) continue;
    const lang: Lang | undefined =
      range === 'zh' || range.startsWith('zh-') ? 'zh' : range === 'en' || range.startsWith('en-') ? 'en' : undefined;
    if (lang && q > best.q) best = { lang, q };
  }
  return best.lang;
}

/** "3 minutes ago", "yesterday", "2 weeks ago" for a past instant, in the reader's language (no time zone needed). */
export function timeAgo(t: Translator, then: Date, now = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (seconds < 60) return t('time.justNow');
  const rtf = new Intl.RelativeTimeFormat(LOCALES[t.lang], { numeric: 'auto' });
  const steps: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ['minute', 60],
    ['hour', 3600],
    ['day', 86_400],
    ['week', 604_800],
    ['month', 2_629_800],
    ['year', 31_557_600],
  ];
  let unit: [Intl.RelativeTimeFormatUnit, number] = steps[0] as [Intl.RelativeTimeFormatUnit, number];
  for (const step of steps) if (seconds >= step[1]) unit = step;
  return rtf.format(-Math.floor(seconds / unit[1]), unit[0]);
}
