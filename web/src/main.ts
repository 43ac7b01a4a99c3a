// The compose page: recipients as chips, a size estimate, reply-all, a language switch, and the
// draft's mail tips from the service over gRPC-web (GetMailTips on every change, debounced, then
// WatchMailTips to keep an open draft's tips current). The client is generated from
// proto/mailtips/v1/mailtips.proto (src/gen); nothing here frames gRPC-web by hand.

import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema } from "./gen/google/rpc/error_details_pb";
import {
  type GetMailTipsRequest,
  GetMailTipsRequestSchema,
  type GetMailTipsResponse,
  type MailTip,
  MailTipsService,
  RecipientField,
  RecipientScope,
  type RecipientTips,
  TipKind,
} from "./gen/mailtips/v1/mailtips_pb";
import { estimateSize, humanSize, splitAddresses } from "./draft";
import { type ChipState, type Lang, STRINGS, type Strings } from "./i18n";
import { localReason } from "./reasons";
import { bearer } from "./token";

/** How long the page waits after the last change before asking. */
const DEBOUNCE_MS = 300;
/** The deadline of one GetMailTips call (sent as grpc-timeout, enforced here too). */
const DEADLINE_MS = 5000;
/** Waits before retrying after UNAVAILABLE or a deadline, growing with each failure. */
const RETRY_SECONDS = [2, 5, 10, 30, 60];
/** Tip lines shown before "show all". */
const VISIBLE_TIPS = 25;
/** Above this many tips the list starts collapsed to a summary with a count per kind, so the
 * message body stays on screen. */
const COLLAPSE_ABOVE = 4;

const client = createClient(
  MailTipsService,
  createGrpcWebTransport({ baseUrl: location.origin, interceptors: [bearer] }),
);

// ---- the chips ---------------------------------------------------------------------------

type FieldName = "to" | "cc" | "bcc" | "orig-to" | "orig-cc";

interface Chip {
  address: string;
  el: HTMLLIElement;
  text: HTMLSpanElement;
  state: HTMLSpanElement;
  remove: HTMLButtonElement;
}

function $(selector: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`page is missing ${selector}`);
  return el;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** One address field (To, Cc, Bcc, original To/Cc): chips plus a text input. */
class ChipField {
  readonly chips: Chip[] = [];
  private readonly list: HTMLUListElement;
  readonly input: HTMLInputElement;

  constructor(
    readonly name: FieldName,
    private readonly onChange: () => void,
  ) {
    const row = $(`[data-field="${name}"]`);
    this.list = row.querySelector("ul") as HTMLUListElement;
    this.input = row.querySelector("input") as HTMLInputElement;
    row.querySelector(".chips")?.addEventListener("click", (e) => {
      if (e.target === e.currentTarget) this.input.focus();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === "," || e.key === ";") {
        e.preventDefault();
        this.commit();
      } else if (e.key === "Backspace" && this.input.value === "" && this.chips.length > 0) {
        e.preventDefault();
        this.removeChip(this.chips[this.chips.length - 1]);
      }
    });
    this.input.addEventListener("input", () => {
      // Typed (or IME-committed) separators, e.g. from a phone keyboard.
      if (/[,;\n]/.test(this.input.value)) this.commit();
    });
    this.input.addEventListener("paste", (e) => {
      const text = e.clipboardData?.getData("text") ?? "";
      if (/[,;\n\s]/.test(text.trim())) {
        e.preventDefault();
        this.input.value = "";
        this.addAll(splitAddresses(text));
      }
    });
    this.input.addEventListener("blur", () => this.commit());
  }

  /** Turns the input's text into chips. */
  commit(): void {
    const text = this.input.value;
    if (text.trim() === "") {
      this.input.value = "";
      return;
    }
    this.input.value = "";
    this.addAll(splitAddresses(text));
  }

  addAll(addresses: string[]): void {
    if (addresses.length === 0) return;
    for (const a of addresses) this.chips.push(this.makeChip(a));
    this.onChange();
  }

  private makeChip(address: string): Chip {
    const li = el("li", "chip");
    li.dataset.address = address;
    const text = el("span", "chip-text", address);
    text.title = address;
    const state = el("span", "visually-hidden");
    const remove = el("button", "chip-remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", t().removeChip(address));
    const chip: Chip = { address, el: li, text, state, remove };
    remove.addEventListener("click", () => this.removeChip(chip));
    li.append(text, state, remove);
    this.list.append(li);
    return chip;
  }

  removeChip(chip: Chip, focusInput = true): void {
    const i = this.chips.indexOf(chip);
    if (i < 0) return;
    this.chips.splice(i, 1);
    chip.el.remove();
    if (focusInput) this.input.focus();
    this.onChange();
  }

  addresses(): string[] {
    return this.chips.map((c) => c.address);
  }

  relabel(): void {
    for (const c of this.chips) c.remove.setAttribute("aria-label", t().removeChip(c.address));
  }
}

// ---- state -------------------------------------------------------------------------------

let lang: Lang = initialLang();
function t(): Strings {
  return STRINGS[lang];
}

function initialLang(): Lang {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "en" || asked === "ja") return asked;
  try {
    const saved = localStorage.getItem("mailtips.lang");
    if (saved === "en" || saved === "ja") return saved;
  } catch {
    // Storage may be off; the browser's language decides then.
  }
  return navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
}

const fields: Record<FieldName, ChipField> = {
  to: new ChipField("to", changed),
  cc: new ChipField("cc", changed),
  bcc: new ChipField("bcc", changed),
  "orig-to": new ChipField("orig-to", changed),
  "orig-cc": new ChipField("orig-cc", changed),
};
const DRAFT_FIELDS: [FieldName, RecipientField][] = [
  ["to", RecipientField.TO],
  ["cc", RecipientField.CC],
  ["bcc", RecipientField.BCC],
];

const fromInput = $("#from") as HTMLInputElement;
const replyAll = $("#reply-all") as HTMLInputElement;
const readReceipt = $("#read-receipt") as HTMLInputElement;
const original = $("#original") as HTMLFieldSetElement;
const subject = $("#subject") as HTMLInputElement;
const attach = $("#attach") as HTMLInputElement;
const body = $("#body") as HTMLTextAreaElement;
const sizeOut = $("#size") as HTMLOutputElement;
const tipsSection = $("#tips");
const statusEl = $("#status");
const errorEl = $("#error");
const tipList = $("#tip-list") as HTMLUListElement;

/** Bumped on every change: answers for an older draft are dropped. */
let generation = 0;
let debounceTimer: number | undefined;
let retryTimer: number | undefined;
let failures = 0;
let inFlight: AbortController | undefined;
let watching: AbortController | undefined;
let lastKey = "";
let lastResponse: GetMailTipsResponse | undefined;
/** The chips in request order for the last request sent. */
let sentChips: Chip[] = [];
let refreshEvery = "2 h";
let refreshSeconds = 7200;
let showAllTips = false;
/** The tips list opened from its collapsed summary (null: not chosen, collapsed when long). */
let tipsOpen: boolean | null = null;
/** After a tip's "Remove": where keyboard focus goes once the list is drawn again. */
let focusAfterRemove: number | undefined;
/** The From address as of its last blur: the page checks it then, not while it is typed. */
let committedFrom = fromInput.value.trim();
const expanded = new Set<string>();

function messageSize(): number {
  return estimateSize(subject.value, body.value, Number.parseFloat(attach.value));
}

function buildRequest(): { req: GetMailTipsRequest; chips: Chip[] } {
  const chips: Chip[] = [];
  const recipients = [];
  for (const [name, field] of DRAFT_FIELDS) {
    for (const c of fields[name].chips) {
      chips.push(c);
      recipients.push({ address: c.address, field });
    }
  }
  const originalTo = fields["orig-to"].addresses();
  const originalCc = fields["orig-cc"].addresses();
  const req = create(GetMailTipsRequestSchema, {
    sender: committedFrom,
    recipients,
    messageSizeBytes: BigInt(messageSize()),
    locale: lang,
    // A reply-all says something only once there is an original recipient to compare with.
    replyAll:
      replyAll.checked && originalTo.length + originalCc.length > 0 ? { originalTo, originalCc } : undefined,
    readReceiptRequested: readReceipt.checked,
  });
  return { req, chips };
}

function requestKey(req: GetMailTipsRequest): string {
  return JSON.stringify([
    req.sender,
    req.recipients.map((r) => [r.address, r.field]),
    req.messageSizeBytes.toString(),
    req.locale,
    req.replyAll ? [req.replyAll.originalTo, req.replyAll.originalCc] : null,
    req.readReceiptRequested,
  ]);
}

/** Every edit of the draft lands here. */
function changed(): void {
  sizeOut.textContent = t().size(humanSize(messageSize()));
  window.clearTimeout(debounceTimer);
  debounceTimer = window.setTimeout(() => void check(false), DEBOUNCE_MS);
}

// ---- talking to the service --------------------------------------------------------------

/** Asks for the draft's tips once, then keeps them fresh with a watch. `force` re-asks even
 * when the draft has not changed (retry, language). */
async function check(force: boolean): Promise<void> {
  window.clearTimeout(retryTimer);
  const { req, chips } = buildRequest();
  const key = requestKey(req);
  if (!force && key === lastKey) return;
  lastKey = key;
  const gen = ++generation;
  inFlight?.abort();
  watching?.abort();
  watching = undefined;
  tipsSection.dataset.live = "false";
  if (req.recipients.length === 0) {
    // Nothing to send to yet: no tips to ask for.
    clearTips();
    setStatus(t().addRecipients);
    return;
  }
  const ctl = new AbortController();
  inFlight = ctl;
  tipsSection.setAttribute("aria-busy", "true");
  setStatus(t().checking);
  try {
    const res = await client.getMailTips(req, { signal: ctl.signal, timeoutMs: DEADLINE_MS });
    if (gen !== generation) return;
    failures = 0;
    sentChips = chips;
    showError(undefined);
    render(res);
    void watch(req, chips, gen, ctl);
  } catch (err) {
    if (gen !== generation) return;
    failed(err, "get");
  } finally {
    if (gen === generation) tipsSection.removeAttribute("aria-busy");
  }
}

/** WatchMailTips for an unchanged draft: a new evaluation every refresh interval. Cancelled
 * (and restarted by check) when the draft changes. */
async function watch(req: GetMailTipsRequest, chips: Chip[], gen: number, parent: AbortController): Promise<void> {
  const ctl = new AbortController();
  watching = ctl;
  parent.signal.addEventListener("abort", () => ctl.abort());
  try {
    for await (const res of client.watchMailTips(req, { signal: ctl.signal })) {
      if (gen !== generation) return;
      failures = 0;
      sentChips = chips;
      tipsSection.dataset.live = "true";
      render(res);
    }
    // The server closed the stream (restart, shutdown): start again after a pause.
    if (gen === generation) liveLost();
  } catch (err) {
    if (gen !== generation || ctl.signal.aborted) return;
    liveLost();
  }
}

function liveLost(): void {
  tipsSection.dataset.live = "false";
  const wait = RETRY_SECONDS[Math.min(failures, RETRY_SECONDS.length - 1)];
  failures++;
  setStatus(t().liveLost(wait));
  retryTimer = window.setTimeout(() => void check(true), wait * 1000);
}

function isUnreachable(e: ConnectError): boolean {
  // fetch() itself failed: no server, refused connection, network down.
  return e.code === Code.Unavailable || (e.code === Code.Unknown && e.cause instanceof TypeError);
}

function failed(err: unknown, _what: string): void {
  const e = ConnectError.from(err);
  if (e.code === Code.Canceled) return;
  markStale();
  if (e.code === Code.InvalidArgument) {
    // Not worth retrying: the draft itself must change.
    const v = e.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations)[0];
    const field = v ? fieldLabel(v.field) : t().fieldNames.recipients;
    const why = localReason(lang, v ? v.description : e.rawMessage);
    showError(t().invalidArgument(field, why), false);
    if (v?.field === "sender") fromInput.setAttribute("aria-invalid", "true");
    setStatus("");
    return;
  }
  const wait = RETRY_SECONDS[Math.min(failures, RETRY_SECONDS.length - 1)];
  failures++;
  if (isUnreachable(e)) {
    showError(t().unavailable(wait), true);
  } else if (e.code === Code.DeadlineExceeded) {
    showError(t().slow(wait), true);
  } else {
    showError(t().otherError(Code[e.code] ?? String(e.code), e.rawMessage), true);
  }
  setStatus("");
  retryTimer = window.setTimeout(() => void check(true), wait * 1000);
}

/** "recipients[3].address" → "Recipient 4 (x@y)", "sender" → "From". */
function fieldLabel(path: string): string {
  const m = path.match(/^recipients\[(\d+)\]/);
  if (m) {
    const i = Number(m[1]);
    const { chips } = buildRequest();
    return t().recipientN(i + 1, chips[i]?.address ?? "?");
  }
  const head = path.split(/[.[]/)[0];
  return t().fieldNames[head] ?? path;
}

// ---- showing the tips --------------------------------------------------------------------

/** Most important first, as Outlook orders its tips. */
const RANK: TipKind[] = [
  TipKind.INVALID_INTERNAL_RECIPIENT,
  TipKind.RESTRICTED_RECIPIENT,
  TipKind.MESSAGE_TOO_LARGE,
  TipKind.MAILBOX_FULL,
  TipKind.REPLY_ALL_ON_BCC,
  TipKind.SENT_ON_BEHALF,
  TipKind.FORWARDED_EXTERNALLY,
  TipKind.WHOLE_AUDIENCE,
  TipKind.RECIPIENTS_VISIBLE,
  TipKind.MODERATED_RECIPIENT,
  TipKind.LARGE_AUDIENCE,
  TipKind.EXTERNAL_RECIPIENT,
  TipKind.READ_RECEIPT,
  TipKind.AUTO_REPLY,
  TipKind.CUSTOM,
];

/** Tips whose recipient will not get the message: marked alike on the chip, and removable. */
const UNDELIVERABLE: Partial<Record<TipKind, ChipState>> = {
  [TipKind.INVALID_INTERNAL_RECIPIENT]: "invalid",
  [TipKind.RESTRICTED_RECIPIENT]: "restricted",
  [TipKind.MAILBOX_FULL]: "full",
};

interface Line {
  tip: MailTip;
  address?: string;
  order: number;
}

function render(res: GetMailTipsResponse): void {
  lastResponse = res;
  fromInput.removeAttribute("aria-invalid");
  tipsSection.classList.remove("stale");
  markChips(res.recipients);

  const lines: Line[] = [];
  const seen = new Set<string>();
  res.draftTips.forEach((tip, i) => lines.push({ tip, order: i }));
  res.recipients.forEach((r, i) => {
    for (const tip of r.tips) {
      // The same address in To and Cc gets one line.
      const key = `${r.address.toLowerCase()}|${tip.kind}|${tip.text}`;
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push({ tip, address: r.address, order: 1000 + i });
    }
  });
  lines.sort((a, b) => RANK.indexOf(a.tip.kind) - RANK.indexOf(b.tip.kind) || a.order - b.order);

  const kept = focusInTips();
  const items = lines.map(tipLine);
  const shown = showAllTips ? items : items.slice(0, VISIBLE_TIPS);
  const collapsible = items.length > COLLAPSE_ABOVE;
  const open = !collapsible || (tipsOpen ?? false);
  tipList.replaceChildren(...(collapsible ? [summaryLine(lines, open)] : []), ...(open ? shown : []));
  if (open && items.length > shown.length) {
    const li = el("li", "tip tip-more-all");
    const b = el("button", "link", t().showAll(items.length));
    b.type = "button";
    b.addEventListener("click", () => {
      showAllTips = true;
      if (lastResponse) render(lastResponse);
    });
    li.append(b);
    tipList.append(li);
  }

  const notes: string[] = [];
  if (res.recipients.some((r) => r.pending.length > 0)) notes.push(t().pending);
  if (res.draftPending.length > 0) notes.push(t().draftPending);
  if (res.perMailboxTipsSkipped) {
    notes.push(t().skipped(res.skippedTipKinds.map((k) => t().badge[TipKind[k]] ?? TipKind[k]).join(", ")));
  }
  if (kept) refocus(kept);
  restoreFocus();
  const when = res.evaluatedAt ? timestampDate(res.evaluatedAt).toLocaleTimeString(lang) : "";
  const summary = lines.length === 0 ? t().noTips : `${t().tipCount(lines.length)} ${t().checkedAt(when)}`;
  setStatus([summary, t().live(refreshEvery), ...notes].join(" "));
}

/** The collapsed list's first line: how many tips of each kind, and a button to open it. */
function summaryLine(lines: Line[], open: boolean): HTMLLIElement {
  const li = el("li", "tip tip-summary");
  const counts = new Map<TipKind, number>();
  for (const l of lines) counts.set(l.tip.kind, (counts.get(l.tip.kind) ?? 0) + 1);
  li.append(el("span", "tip-text", t().summary(lines.length)));
  const kinds = el("span", "tip-kinds");
  for (const kind of RANK.filter((k) => counts.has(k))) {
    const name = TipKind[kind];
    const c = el("span", `tip-count tip-count--${name.toLowerCase().replace(/_/g, "-")}`);
    c.dataset.kind = name;
    c.textContent = `${t().badge[name] ?? name} ${counts.get(kind)}`;
    kinds.append(c);
  }
  const b = el("button", "link", open ? t().hideTips : t().showTips);
  b.type = "button";
  b.dataset.action = "toggle-tips";
  b.setAttribute("aria-expanded", String(open));
  b.setAttribute("aria-controls", "tip-list");
  b.addEventListener("click", () => {
    tipsOpen = !open;
    if (lastResponse) render(lastResponse);
    tipList.querySelector<HTMLButtonElement>('button[data-action="toggle-tips"]')?.focus();
  });
  li.append(kinds, b);
  return li;
}

/** What has keyboard focus in the tips list, to find again once the list is redrawn (a new
 * answer replaces every line, the watch's first one included). */
interface FocusKey {
  kind?: string;
  address?: string;
  action?: string;
}

function focusInTips(): FocusKey | undefined {
  const a = document.activeElement as HTMLElement | null;
  if (!a || !tipList.contains(a)) return undefined;
  const li = a.closest<HTMLLIElement>("li.tip");
  return { kind: li?.dataset.kind, address: li?.dataset.address, action: a.dataset.action };
}

function refocus(k: FocusKey): void {
  for (const li of tipList.querySelectorAll<HTMLLIElement>(":scope > li.tip")) {
    if (li.dataset.kind !== k.kind || li.dataset.address !== k.address) continue;
    const target = k.action ? li.querySelector<HTMLElement>(`[data-action="${k.action}"]`) : li;
    if (target) {
      if (target === li) li.tabIndex = -1;
      target.focus();
      return;
    }
  }
}

/** After a "Remove", focus the tip now at the removed one's place, else the To field; never
 * the page body. */
function restoreFocus(): void {
  if (focusAfterRemove === undefined) return;
  const active = document.activeElement;
  if (active && active !== document.body && !tipList.contains(active)) {
    // The person has moved on: leave their focus where it is.
    focusAfterRemove = undefined;
    return;
  }
  const items = [...tipList.querySelectorAll<HTMLLIElement>(":scope > li.tip:not(.tip-summary)")];
  const target = items[Math.min(focusAfterRemove, items.length - 1)];
  focusAfterRemove = undefined;
  if (target) {
    target.tabIndex = -1;
    (target.querySelector<HTMLButtonElement>('button[data-action="remove"]') ?? target).focus();
  } else {
    fields.to.input.focus();
  }
}

function tipLine(line: Line): HTMLLIElement {
  const { tip, address } = line;
  const kind = TipKind[tip.kind] ?? "UNKNOWN";
  const li = el("li", `tip tip--${kind.toLowerCase().replace(/_/g, "-")}`);
  li.dataset.kind = kind;
  if (address !== undefined) li.dataset.address = address;
  li.append(el("span", "tip-badge", t().badge[kind] ?? kind), el("span", "tip-text", tip.text));

  const d = tip.data;
  if (d.case === "largeAudience") {
    li.append(el("span", "tip-count", t().members(d.value.memberCount)));
  } else if (d.case === "wholeAudience") {
    li.append(el("span", "tip-count", t().people(d.value.people)));
  } else if (d.case === "recipientsVisible" && d.value.outsideDomains.length > 1) {
    li.append(el("span", "tip-count", t().outsideDomains(d.value.outsideDomains.length)));
  } else if (d.case === "external" && d.value.isGroup) {
    li.append(el("span", "tip-count", t().externalMembers(d.value.externalMemberCount, d.value.totalMemberCount)));
  } else if (d.case === "autoReply") {
    const reply = d.value;
    if (reply.windowEnd) {
      li.append(el("span", "tip-count", t().until(timestampDate(reply.windowEnd).toLocaleString(lang))));
    }
    if (reply.message.length > reply.preview.length || reply.truncated) {
      const id = `more-${(address ?? "").replace(/[^a-z0-9]/gi, "-")}`;
      const more = el("p", "tip-full", reply.message);
      more.id = id;
      const open = expanded.has(address ?? "");
      more.hidden = !open;
      const b = el("button", "link", open ? t().showLess : t().showMore);
      b.type = "button";
      b.dataset.action = "more";
      b.setAttribute("aria-expanded", String(open));
      b.setAttribute("aria-controls", id);
      b.addEventListener("click", () => {
        const nowOpen = more.hidden;
        more.hidden = !nowOpen;
        if (nowOpen) expanded.add(address ?? "");
        else expanded.delete(address ?? "");
        b.setAttribute("aria-expanded", String(nowOpen));
        b.textContent = nowOpen ? t().showLess : t().showMore;
      });
      li.append(b, more);
    }
  }
  if (address !== undefined && UNDELIVERABLE[tip.kind] !== undefined) {
    const b = el("button", "tip-action", t().remove);
    b.type = "button";
    b.dataset.action = "remove";
    b.setAttribute("aria-label", t().removeChip(address));
    b.addEventListener("click", () => removeAddress(address));
    li.append(b);
  }
  return li;
}

/** The tip's "remove": every chip with that address leaves the draft. */
function removeAddress(address: string): void {
  const items = [...tipList.querySelectorAll<HTMLLIElement>(":scope > li.tip:not(.tip-summary)")];
  const at = items.findIndex((li) => li.dataset.address === address);
  for (const [name] of DRAFT_FIELDS) {
    for (const c of [...fields[name].chips]) {
      if (c.address === address) fields[name].removeChip(c, false);
    }
  }
  // Its tip lines go at once; the next answer confirms the rest.
  for (const li of tipList.querySelectorAll<HTMLLIElement>("li[data-address]")) {
    if (li.dataset.address === address) li.remove();
  }
  // Keep the keyboard user in the tips (the next one takes the removed one's place), or send
  // them back to To; again once the next answer redraws the list.
  focusAfterRemove = Math.max(at, 0);
  restoreFocus();
  focusAfterRemove = Math.max(at, 0);
}

function markChips(recipients: RecipientTips[]): void {
  for (const [name] of DRAFT_FIELDS) {
    for (const c of fields[name].chips) {
      c.el.classList.remove("chip--invalid", "chip--external", "chip--restricted", "chip--full", "chip--undeliverable");
      c.state.textContent = "";
    }
  }
  recipients.forEach((r, i) => {
    const chip = sentChips[i];
    if (!chip || chip.address !== r.address || !chip.el.isConnected) return;
    const kinds = new Set(r.tips.map((x) => x.kind));
    const states: ChipState[] = [];
    for (const k of kinds) {
      const s = UNDELIVERABLE[k];
      if (s) states.push(s);
    }
    // Every recipient that will not get the message looks the same.
    if (states.length > 0) chip.el.classList.add("chip--undeliverable");
    if (kinds.has(TipKind.EXTERNAL_RECIPIENT) || r.scope === RecipientScope.EXTERNAL) states.push("external");
    for (const s of states) chip.el.classList.add(`chip--${s}`);
    chip.state.textContent = states.length ? ` (${states.map((s) => t().chipState[s]).join(", ")})` : "";
    chip.text.textContent = r.displayName || chip.address;
    chip.text.title = r.displayName ? `${r.displayName} <${chip.address}>` : chip.address;
  });
}

function clearTips(): void {
  lastResponse = undefined;
  tipList.replaceChildren();
  showError(undefined);
  markChips([]);
  restoreFocus();
}

function markStale(): void {
  tipsSection.classList.add("stale");
  tipsSection.dataset.live = "false";
}

function setStatus(text: string): void {
  statusEl.textContent = text;
}

function showError(text: string | undefined, retry = false): void {
  if (text === undefined) {
    errorEl.hidden = true;
    errorEl.replaceChildren();
    return;
  }
  errorEl.hidden = false;
  errorEl.replaceChildren(el("span", undefined, text));
  if (retry) {
    const b = el("button", "link", t().retryNow);
    b.type = "button";
    b.addEventListener("click", () => void check(true));
    errorEl.append(" ", b);
  }
}

// ---- language ----------------------------------------------------------------------------

function applyLang(): void {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll<HTMLElement>("[data-i18n]")) {
    const k = node.dataset.i18n as keyof Strings;
    const v = t()[k];
    if (typeof v === "string") node.textContent = v;
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>("[data-lang]")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  }
  for (const f of Object.values(fields)) f.relabel();
  document.title = `mailtips — ${t().title}`;
  sizeOut.textContent = t().size(humanSize(messageSize()));
  refreshEvery = refreshSeconds % 3600 === 0 ? t().hours(refreshSeconds / 3600) : t().minutes(Math.round(refreshSeconds / 60));
}

for (const b of document.querySelectorAll<HTMLButtonElement>("[data-lang]")) {
  b.addEventListener("click", () => {
    lang = b.dataset.lang === "ja" ? "ja" : "en";
    try {
      localStorage.setItem("mailtips.lang", lang);
    } catch {
      // Not remembered; still switched.
    }
    applyLang();
    void check(true);
  });
}

// ---- wiring ------------------------------------------------------------------------------

// From is checked when it is left (blur), not while it is typed; typing again clears the mark.
fromInput.addEventListener("input", () => fromInput.removeAttribute("aria-invalid"));
fromInput.addEventListener("change", () => {
  committedFrom = fromInput.value.trim();
  changed();
});
readReceipt.addEventListener("change", changed);
subject.addEventListener("input", changed);
attach.addEventListener("input", changed);
body.addEventListener("input", changed);
replyAll.addEventListener("change", () => {
  original.hidden = !replyAll.checked;
  changed();
});
$("#draft").addEventListener("submit", (e) => e.preventDefault());
window.addEventListener("pagehide", () => {
  inFlight?.abort();
  watching?.abort();
});

applyLang();
setStatus(t().addRecipients);
changed();

// The refresh interval, for the "kept up to date" line; the page works without it.
client
  .getServiceConfiguration({ locale: lang }, { timeoutMs: DEADLINE_MS })
  .then((c) => {
    if (c.refreshInterval) {
      refreshSeconds = Number(c.refreshInterval.seconds) || refreshSeconds;
      applyLang();
      if (lastResponse) render(lastResponse);
    }
  })
  .catch(() => {
    // The tips call reports the outage in words; nothing to add here.
  });
