// The page's own words in English and Japanese. Tip texts come from the server in the
// request's locale; these are the labels, buttons, statuses and error messages around them.

export type Lang = "en" | "ja";

/** How a recipient's chip is marked: invalid, restricted and full are all undeliverable. */
export type ChipState = "invalid" | "restricted" | "full" | "external";

export interface Strings {
  title: string;
  from: string;
  to: string;
  cc: string;
  bcc: string;
  separatorHint: string;
  replyAll: string;
  readReceipt: string;
  fromChoices: string;
  original: string;
  originalTo: string;
  originalCc: string;
  tipsTitle: string;
  subject: string;
  attachments: string;
  body: string;
  remove: string;
  removeChip: (address: string) => string;
  showMore: string;
  showLess: string;
  showAll: (n: number) => string;
  retryNow: string;
  size: (human: string) => string;
  badge: Record<string, string>;
  chipState: Record<ChipState, string>;
  members: (n: number) => string;
  people: (n: number) => string;
  outsideDomains: (n: number) => string;
  summary: (n: number) => string;
  showTips: string;
  hideTips: string;
  externalMembers: (external: number, total: number) => string;
  until: (when: string) => string;
  addRecipients: string;
  checking: string;
  noTips: string;
  checkedAt: (time: string) => string;
  tipCount: (n: number) => string;
  live: (every: string) => string;
  liveLost: (seconds: number) => string;
  pending: string;
  draftPending: string;
  skipped: (kinds: string) => string;
  invalidArgument: (field: string, why: string) => string;
  unavailable: (seconds: number) => string;
  slow: (seconds: number) => string;
  otherError: (code: string, message: string) => string;
  fieldNames: Record<string, string>;
  recipientN: (n: number, address: string) => string;
  hours: (n: number) => string;
  minutes: (n: number) => string;
}

const en: Strings = {
  title: "New message",
  from: "From",
  to: "To",
  cc: "Cc",
  bcc: "Bcc",
  separatorHint: "Separate addresses with a comma, a semicolon or Enter.",
  replyAll: "This is a reply-all",
  readReceipt: "Request a read receipt",
  fromChoices: "Your addresses",
  original: "The original message",
  originalTo: "Original To",
  originalCc: "Original Cc",
  tipsTitle: "Mail tips",
  subject: "Subject",
  attachments: "Attachments (MB)",
  body: "Message",
  remove: "Remove",
  removeChip: (a) => `Remove ${a}`,
  showMore: "Show more",
  showLess: "Show less",
  showAll: (n) => `Show all ${n} tips`,
  retryNow: "Try again now",
  size: (h) => `Estimated size: ${h}`,
  badge: {
    INVALID_INTERNAL_RECIPIENT: "Invalid",
    MAILBOX_FULL: "Mailbox full",
    AUTO_REPLY: "Automatic reply",
    CUSTOM: "Note",
    RESTRICTED_RECIPIENT: "Restricted",
    EXTERNAL_RECIPIENT: "External",
    LARGE_AUDIENCE: "Large audience",
    MODERATED_RECIPIENT: "Moderated",
    REPLY_ALL_ON_BCC: "Reply-all",
    MESSAGE_TOO_LARGE: "Too large",
    WHOLE_AUDIENCE: "Many people",
    RECIPIENTS_VISIBLE: "Visible recipients",
    READ_RECEIPT: "Read receipt",
    SENT_ON_BEHALF: "On behalf of",
    FORWARDED_EXTERNALLY: "Forwarded outside",
  },
  chipState: { invalid: "invalid", restricted: "restricted", full: "mailbox full", external: "external" },
  members: (n) => `${n} members`,
  people: (n) => `${n} people`,
  outsideDomains: (n) => `${n} outside domains`,
  summary: (n) => (n === 1 ? "1 mail tip:" : `${n} mail tips:`),
  showTips: "Show tips",
  hideTips: "Hide tips",
  externalMembers: (e, t) => `${e} of ${t} members external`,
  until: (w) => `until ${w}`,
  addRecipients: "Add recipients to see mail tips.",
  checking: "Checking recipients…",
  noTips: "No mail tips for this draft.",
  checkedAt: (t) => `Checked at ${t}.`,
  tipCount: (n) => (n === 1 ? "1 mail tip." : `${n} mail tips.`),
  live: (every) => `Kept up to date while the draft is open (every ${every}).`,
  liveLost: (s) => `Live updates paused; reconnecting in ${s} s.`,
  pending: "Some tips could not be checked right now (the directory is slow); they will be checked again.",
  draftPending: "Some tips about the whole draft could not be checked right now; they will be checked again.",
  skipped: (k) => `Too many recipients to check ${k} for each person.`,
  invalidArgument: (f, w) => `The service could not check this draft. ${f}: ${w}`,
  unavailable: (s) =>
    `The mail tips service can't be reached, so tips may be missing or out of date. Your draft is not affected. Trying again in ${s} s.`,
  slow: (s) => `The mail tips service is taking too long to answer. Tips may be missing. Trying again in ${s} s.`,
  otherError: (c, m) => `Mail tips are not available right now (${c}${m ? `: ${m}` : ""}).`,
  fieldNames: {
    sender: "From",
    recipients: "Recipients",
    locale: "Language",
    reply_all: "Original recipients",
    tip_kinds: "Tip kinds",
  },
  recipientN: (n, a) => `Recipient ${n} (${a})`,
  hours: (n) => `${n} h`,
  minutes: (n) => `${n} min`,
};

const ja: Strings = {
  title: "新しいメッセージ",
  from: "差出人",
  to: "宛先",
  cc: "CC",
  bcc: "BCC",
  separatorHint: "アドレスはコンマ、セミコロン、Enter で区切ります。",
  replyAll: "全員に返信",
  readReceipt: "開封確認を要求する",
  fromChoices: "自分のアドレス",
  original: "元のメッセージ",
  originalTo: "元の宛先",
  originalCc: "元の CC",
  tipsTitle: "メール ヒント",
  subject: "件名",
  attachments: "添付ファイル（MB）",
  body: "本文",
  remove: "削除",
  removeChip: (a) => `${a} を削除`,
  showMore: "続きを表示",
  showLess: "折りたたむ",
  showAll: (n) => `${n} 件のヒントをすべて表示`,
  retryNow: "今すぐ再試行",
  size: (h) => `推定サイズ：${h}`,
  badge: {
    INVALID_INTERNAL_RECIPIENT: "無効",
    MAILBOX_FULL: "メールボックス容量超過",
    AUTO_REPLY: "自動応答",
    CUSTOM: "お知らせ",
    RESTRICTED_RECIPIENT: "制限",
    EXTERNAL_RECIPIENT: "外部",
    LARGE_AUDIENCE: "大人数",
    MODERATED_RECIPIENT: "承認制",
    REPLY_ALL_ON_BCC: "全員に返信",
    MESSAGE_TOO_LARGE: "サイズ超過",
    WHOLE_AUDIENCE: "大人数",
    RECIPIENTS_VISIBLE: "宛先の公開",
    READ_RECEIPT: "開封確認",
    SENT_ON_BEHALF: "代理送信",
    FORWARDED_EXTERNALLY: "外部転送",
  },
  chipState: { invalid: "無効", restricted: "制限", full: "容量超過", external: "外部" },
  members: (n) => `メンバー ${n} 人`,
  people: (n) => `${n} 人`,
  outsideDomains: (n) => `組織外のドメイン ${n} 個`,
  summary: (n) => `メール ヒント ${n} 件：`,
  showTips: "ヒントを表示",
  hideTips: "ヒントを隠す",
  externalMembers: (e, t) => `${t} 人のうち ${e} 人が外部`,
  until: (w) => `${w} まで`,
  addRecipients: "宛先を追加するとメール ヒントが表示されます。",
  checking: "宛先を確認しています…",
  noTips: "この下書きにメール ヒントはありません。",
  checkedAt: (t) => `${t} に確認しました。`,
  tipCount: (n) => `メール ヒント ${n} 件。`,
  live: (every) => `下書きを開いている間は最新の状態に保ちます（${every}ごと）。`,
  liveLost: (s) => `自動更新が中断しました。${s} 秒後に再接続します。`,
  pending: "一部のヒントは今は確認できませんでした（ディレクトリの応答が遅延しています）。後でもう一度確認します。",
  draftPending: "下書き全体についての一部のヒントは今は確認できませんでした。後でもう一度確認します。",
  skipped: (k) => `宛先が多すぎるため、${k} は受信者ごとに確認していません。`,
  invalidArgument: (f, w) => `この下書きを確認できませんでした。${f}：${w}`,
  unavailable: (s) =>
    `メール ヒント サービスに接続できないため、ヒントが欠けているか古い可能性があります。下書きには影響ありません。${s} 秒後に再試行します。`,
  slow: (s) => `メール ヒント サービスの応答に時間がかかっています。ヒントが欠けている可能性があります。${s} 秒後に再試行します。`,
  otherError: (c, m) => `現在メール ヒントを利用できません（${c}${m ? `：${m}` : ""}）。`,
  fieldNames: {
    sender: "差出人",
    recipients: "宛先",
    locale: "言語",
    reply_all: "元の受信者",
    tip_kinds: "ヒントの種類",
  },
  recipientN: (n, a) => `${n} 番目の宛先（${a}）`,
  hours: (n) => `${n} 時間`,
  minutes: (n) => `${n} 分`,
};

export const STRINGS: Record<Lang, Strings> = { en, ja };
