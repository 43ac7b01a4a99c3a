// End-to-end test of the compose page in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), against a running mailtips server with the demo directory.
// tests/it/browser.rs starts the server in-process and runs this script; by hand:
//   mailtips serve --listen 127.0.0.1:50051 &  MAILTIPS_URL=http://127.0.0.1:50051/ node tests/e2e.mjs
// It types recipients as a person would, checks that every tip kind appears with its marks
// (the list collapsed to a summary per kind first), switches to Japanese, removes an invalid
// recipient through the tip's action (keyboard only, focus kept in the tips), sends from a
// send-from address, checks From only when it is left,
// checks the plain-words errors for an unreachable, a slow and a refusing server, and saves
// screenshots (desktop and phone width) into $MAILTIPS_ARTIFACTS (default ../test-artifacts).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.MAILTIPS_URL ?? "http://127.0.0.1:50051/";
const artifacts = process.env.MAILTIPS_ARTIFACTS ?? join(here, "../../test-artifacts");
const executablePath = process.env.MAILTIPS_CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 10_000;

if (!existsSync(executablePath)) {
  console.error(`no Chromium at ${executablePath}: install it with \`apt-get install chromium\` (or set MAILTIPS_CHROMIUM)`);
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

let passed = 0;
let failed = 0;
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    await page.screenshot({ path: join(artifacts, `failure-${passed + failed}.png`), fullPage: true }).catch(() => {});
    throw e;
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
/** Waits (bounded) for something the page does, checking every 20 ms. */
async function until(cond, message) {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > TIMEOUT) throw new Error(message);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const profile = mkdtempSync(join(tmpdir(), "mailtips-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
  locale: "en-US",
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(TIMEOUT);
const consoleErrors = [];
page.on("console", (m) => {
  if (m.type() === "error") consoleErrors.push(m.text());
});
page.on("pageerror", (e) => consoleErrors.push(String(e)));
const rpcs = [];
page.on("request", (r) => {
  const m = r.url().match(/mailtips\.v1\.MailTipsService\/(\w+)/);
  if (m) rpcs.push(m[1]);
});

const tip = (kind, address) =>
  page.locator(address ? `li.tip[data-kind="${kind}"][data-address="${address}"]` : `li.tip[data-kind="${kind}"]`);
const chip = (address) =>
  page.locator(`:is([data-field="to"], [data-field="cc"], [data-field="bcc"]) li.chip[data-address="${address}"]`);

/** Types addresses into a field the way a person does, with the given separators. */
async function type(field, text) {
  const input = page.locator(`#${field}-input`);
  await input.focus();
  await page.keyboard.type(text, { delay: 5 });
}

try {
  await step("the page loads from the server itself", async () => {
    const res = await page.goto(base);
    assert(res?.ok(), `GET ${base}: ${res?.status()}`);
    await page.locator("h1", { hasText: "New message" }).waitFor();
    await page.locator("#status", { hasText: "Add recipients" }).waitFor();
  });

  await step("typed and pasted addresses become chips", async () => {
    await type("to", "nobody@contoso.com,not-an-address;kenji.suzuki@contoso.com");
    await page.keyboard.press("Enter");
    await type("to", "hanako.sato@contoso.com\n");
    await type("cc", "helpdesk@contoso.com; board@contoso.com, john.smith@partner.example, ryo.kobayashi@contoso.com\n");
    // A paste of several addresses (as copied from another message) splits into chips.
    await page.locator("#bcc-input").focus();
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.setData("text/plain", "Partners <partners@contoso.com>; all-staff@contoso.com\nannouncements@contoso.com, yuki.ito@contoso.com");
      document.querySelector("#bcc-input").dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    const chips = await page.locator("li.chip").evaluateAll((els) => els.map((e) => e.dataset.address));
    const want = [
      "nobody@contoso.com", "not-an-address", "kenji.suzuki@contoso.com", "hanako.sato@contoso.com",
      "helpdesk@contoso.com", "board@contoso.com", "john.smith@partner.example", "ryo.kobayashi@contoso.com",
      "partners@contoso.com", "all-staff@contoso.com", "announcements@contoso.com", "yuki.ito@contoso.com",
    ];
    assert(JSON.stringify(chips) === JSON.stringify(want), `chips ${JSON.stringify(chips)}`);
    assert((await page.locator("#to-input").inputValue()) === "", "the To input keeps text after Enter");
  });

  await step("size estimate and reply-all", async () => {
    await page.locator("#attach").fill("12");
    await page.locator("#size", { hasText: "MB" }).waitFor();
    const size = await page.locator("#size").textContent();
    assert(/Estimated size: 16\.\d MB/.test(size ?? ""), `size line: ${size}`);
    // Reply-all with no original recipient yet, together with a read receipt: the answer to
    // the receipt's request shows no REPLY_ALL_ON_BCC (nothing to compare with).
    await page.locator("#reply-all").check();
    await page.locator("#read-receipt").check();
    await page.locator("#original").waitFor({ state: "visible" });
    await page.locator('button[data-action="toggle-tips"]').waitFor();
    await page.locator('.tip-summary .tip-count[data-kind="READ_RECEIPT"]').waitFor();
    assert((await page.locator('.tip-summary .tip-count[data-kind="REPLY_ALL_ON_BCC"]').count()) === 0, "reply-all tip with no original recipients");
    await type("orig-to", "hanako.sato@contoso.com\n");
    await page.locator('.tip-summary .tip-count[data-kind="REPLY_ALL_ON_BCC"]').waitFor();
  });

  await step("many tips collapse to a summary with a count per kind, opened with the keyboard", async () => {
    const summary = page.locator("li.tip-summary");
    await summary.waitFor();
    assert((await page.locator("li.tip:not(.tip-summary)").count()) === 0, "tip lines shown while collapsed");
    const invalid = await summary.locator('.tip-count[data-kind="INVALID_INTERNAL_RECIPIENT"]').textContent();
    assert(invalid === "Invalid 2", `invalid count: ${invalid}`);
    const total = await summary.locator(".tip-text").textContent();
    assert(/^\d+ mail tips:$/.test(total ?? ""), `summary: ${total}`);
    // At phone width the summary stays short (16 tip lines took ≈ 500 px), so the message body
    // is not pushed off the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const height = await page.locator("#tip-list").evaluate((e) => e.getBoundingClientRect().height);
    assert(height <= 220, `the collapsed tips take ${height}px at phone width`);
    await page.screenshot({ path: join(artifacts, "compose-phone-collapsed-en.png"), fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
    const toggle = summary.locator('button[data-action="toggle-tips"]');
    assert((await toggle.getAttribute("aria-expanded")) === "false", "aria-expanded before opening");
    await toggle.focus();
    await page.keyboard.press("Enter");
    await tip("MAILBOX_FULL").first().waitFor();
    assert((await page.locator('button[data-action="toggle-tips"]').getAttribute("aria-expanded")) === "true", "aria-expanded");
  });

  await step("every tip kind is shown, one line each, as a person sees it", async () => {
    const lines = [
      ["INVALID_INTERNAL_RECIPIENT", "nobody@contoso.com", /nobody@contoso\.com/],
      ["INVALID_INTERNAL_RECIPIENT", "not-an-address", /not a valid email address/],
      ["MAILBOX_FULL", "kenji.suzuki@contoso.com", /mailbox is full/],
      ["AUTO_REPLY", "hanako.sato@contoso.com", /automatic replies/],
      ["CUSTOM", "helpdesk@contoso.com", /helpdesk answers within one business day/],
      ["RESTRICTED_RECIPIENT", "board@contoso.com", /./],
      ["EXTERNAL_RECIPIENT", "john.smith@partner.example", /outside your organisation/],
      ["EXTERNAL_RECIPIENT", "partners@contoso.com", /./],
      ["LARGE_AUDIENCE", "all-staff@contoso.com", /./],
      ["MODERATED_RECIPIENT", "announcements@contoso.com", /./],
      ["MESSAGE_TOO_LARGE", "yuki.ito@contoso.com", /./],
      ["REPLY_ALL_ON_BCC", undefined, /Bcc recipient of the original/],
      ["FORWARDED_EXTERNALLY", "ryo.kobayashi@contoso.com", /forwarded outside your organisation/],
      ["WHOLE_AUDIENCE", undefined, /will reach at most \d+ people/],
      ["READ_RECEIPT", undefined, /does not prove that the message was delivered/],
    ];
    for (const [kind, address, text] of lines) {
      const l = tip(kind, address);
      await l.first().waitFor({ state: "visible" });
      const got = await l.first().locator(".tip-text").textContent();
      assert(text.test(got ?? ""), `${kind} ${address}: ${got}`);
    }
    // No custom tip for the restricted board (SPEC: restricted hides the rest).
    assert((await tip("CUSTOM", "board@contoso.com").count()) === 0, "board's custom tip shown although restricted");
    // Draft-level tips have no address; the badge names the kind.
    assert((await tip("REPLY_ALL_ON_BCC").locator(".tip-badge").textContent()) === "Reply-all", "badge");
  });

  await step("every undeliverable recipient is marked alike and removable, a full mailbox too", async () => {
    for (const a of ["nobody@contoso.com", "not-an-address", "board@contoso.com", "kenji.suzuki@contoso.com"]) {
      await page.locator(`li.chip--undeliverable[data-address="${a}"]`).waitFor();
    }
    assert((await chip("kenji.suzuki@contoso.com").textContent())?.includes("(mailbox full)"), "full state not in the chip's text");
    await tip("MAILBOX_FULL", "kenji.suzuki@contoso.com").locator('button[data-action="remove"]').waitFor();
    const colours = await page
      .locator("li.chip--undeliverable")
      .evaluateAll((els) => [...new Set(els.map((e) => getComputedStyle(e).backgroundColor))]);
    assert(colours.length === 1, `undeliverable chips look different: ${colours}`);
    // The From chooser lists the sender's own address and its send-from addresses.
    const choices = await page.locator("#from-choices option").evaluateAll((els) => els.map((e) => e.value));
    assert(choices.includes("taro.yamada@tailspin.example") && choices.includes("taro.yamada@contoso.com"), `choices ${choices}`);
  });

  await step("affected chips are marked: invalid red, external highlighted, restricted struck through", async () => {
    await page.locator('li.chip--invalid[data-address="nobody@contoso.com"]').waitFor();
    const invalid = await chip("nobody@contoso.com").evaluate((e) => getComputedStyle(e).color);
    assert(invalid === "rgb(179, 38, 30)", `invalid chip colour ${invalid}`);
    assert(await chip("not-an-address").evaluate((e) => e.classList.contains("chip--invalid")), "malformed chip not red");
    const struck = await chip("board@contoso.com").locator(".chip-text").evaluate((e) => getComputedStyle(e).textDecorationLine);
    assert(struck.includes("line-through"), `restricted chip decoration ${struck}`);
    const ext = await chip("john.smith@partner.example").evaluate((e) => getComputedStyle(e).backgroundColor);
    assert(ext === "rgb(255, 244, 214)", `external chip background ${ext}`);
    assert(await chip("partners@contoso.com").evaluate((e) => e.classList.contains("chip--external")), "external group chip");
    // Screen readers hear the state too, and resolved chips show display names.
    assert((await chip("nobody@contoso.com").textContent())?.includes("(invalid)"), "invalid state not in the chip's text");
    assert((await chip("hanako.sato@contoso.com").locator(".chip-text").textContent()) === "佐藤 花子", "display name");
  });

  await step("counts for large audiences and external members", async () => {
    const members = await tip("LARGE_AUDIENCE", "all-staff@contoso.com").locator(".tip-count").textContent();
    const n = Number(members?.match(/(\d+) members/)?.[1]);
    assert(n > 25, `large audience count: ${members}`);
    const ext = await tip("EXTERNAL_RECIPIENT", "partners@contoso.com").locator(".tip-count").textContent();
    assert(/^2 of 3 members external$/.test(ext ?? ""), `external count: ${ext}`);
  });

  await step("auto-reply preview with show more revealing the full message", async () => {
    const line = tip("AUTO_REPLY", "hanako.sato@contoso.com");
    const full = line.locator(".tip-full");
    assert(!(await full.isVisible()), "full reply visible before show more");
    assert(!(await line.locator(".tip-text").textContent())?.includes("patience"), "preview is not cut");
    const more = line.locator('button[data-action="more"]');
    await more.focus();
    await page.keyboard.press("Enter");
    await full.waitFor({ state: "visible" });
    assert((await full.textContent())?.includes("Thank you for your patience & understanding."), "full reply text");
    assert((await more.getAttribute("aria-expanded")) === "true", "aria-expanded");
  });

  await step("tips are kept fresh with WatchMailTips while the draft is open", async () => {
    await page.locator('#tips[data-live="true"]').waitFor();
    assert(rpcs.includes("GetMailTips") && rpcs.includes("WatchMailTips"), `rpcs: ${rpcs}`);
    await page.locator("#status", { hasText: "Kept up to date while the draft is open (every 2 h)" }).waitFor();
  });

  await step("desktop screenshot, English", async () => {
    await page.screenshot({ path: join(artifacts, "compose-desktop-en.png"), fullPage: true });
  });

  await step("switching to Japanese relabels the page and asks for Japanese tips", async () => {
    const watchesBefore = rpcs.filter((r) => r === "WatchMailTips").length;
    await page.locator('button[data-lang="ja"]').click();
    await page.locator("html[lang=ja]").waitFor({ state: "attached" });
    await page.locator('label[for="to-input"]', { hasText: "宛先" }).waitFor();
    await tip("CUSTOM", "helpdesk@contoso.com").locator(".tip-text", { hasText: "ヘルプデスクは1営業日以内に回答します" }).waitFor();
    await tip("INVALID_INTERNAL_RECIPIENT", "nobody@contoso.com").locator(".tip-badge", { hasText: "無効" }).waitFor();
    await tip("REPLY_ALL_ON_BCC").locator(".tip-text", { hasText: "BCC" }).waitFor();
    await tip("LARGE_AUDIENCE", "all-staff@contoso.com").locator(".tip-count", { hasText: "メンバー" }).waitFor();
    await page.locator('#tips[data-live="true"]').waitFor();
    // The draft changed (its locale), so the old stream was cancelled and a new one started.
    const watchesAfter = rpcs.filter((r) => r === "WatchMailTips").length;
    assert(watchesAfter > watchesBefore, `no new WatchMailTips after the change (${watchesBefore} → ${watchesAfter})`);
    await page.screenshot({ path: join(artifacts, "compose-desktop-ja.png"), fullPage: true });
  });

  await step("phone width reads sensibly (no sideways scrolling)", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `page is ${overflow}px wider than the phone`);
    await page.screenshot({ path: join(artifacts, "compose-phone-ja.png"), fullPage: true });
    await page.locator('button[data-lang="en"]').click();
    await page.locator("html[lang=en]").waitFor({ state: "attached" });
    await tip("CUSTOM", "helpdesk@contoso.com").locator(".tip-text", { hasText: "helpdesk answers" }).waitFor();
    await page.screenshot({ path: join(artifacts, "compose-phone-en.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step("removing an invalid recipient through its tip, with the keyboard; focus stays in the tips", async () => {
    const remove = tip("INVALID_INTERNAL_RECIPIENT", "nobody@contoso.com").locator('button[data-action="remove"]');
    const answers = rpcs.filter((r) => r === "GetMailTips").length;
    await remove.focus();
    await page.keyboard.press("Enter");
    await chip("nobody@contoso.com").waitFor({ state: "detached" });
    await tip("INVALID_INTERNAL_RECIPIENT", "nobody@contoso.com").waitFor({ state: "detached" });
    // The other invalid recipient and the rest of the draft stay.
    await tip("INVALID_INTERNAL_RECIPIENT", "not-an-address").waitFor();
    assert((await chip("kenji.suzuki@contoso.com").count()) === 1, "another chip went too");
    // Once the new answer is drawn, focus is on the next tip's Remove, not the page body.
    await until(() => rpcs.filter((r) => r === "GetMailTips").length > answers, "the draft was not checked again");
    await page.locator("#tips:not([aria-busy])").waitFor();
    const focused = await page.evaluate(() => {
      const a = document.activeElement;
      return a?.closest("li.tip")?.getAttribute("data-address") + " " + a?.getAttribute("data-action");
    });
    assert(focused === "not-an-address remove", `focus after Remove: ${focused}`);
  });

  await step("Backspace in an empty field removes the last chip", async () => {
    await page.locator("#bcc-input").focus();
    await page.keyboard.press("Backspace");
    await chip("yuki.ito@contoso.com").waitFor({ state: "detached" });
    await tip("MESSAGE_TOO_LARGE", "yuki.ito@contoso.com").waitFor({ state: "detached" });
  });

  await step("server unreachable: plain words, retry, the page stays usable", async () => {
    await page.route("**/mailtips.v1.MailTipsService/**", (route) => route.abort("connectionrefused"));
    await type("to", "akiko.tanaka@contoso.com\n");
    const error = page.locator("#error");
    await error.locator("span", { hasText: "can't be reached" }).waitFor();
    assert(await page.locator("#tips.stale").isVisible(), "old tips not marked as stale");
    // Still typing: the page has not frozen.
    await type("cc", "hr@contoso.com\n");
    await chip("hr@contoso.com").waitFor();
    await page.unroute("**/mailtips.v1.MailTipsService/**");
    await error.locator("button").click();
    await error.waitFor({ state: "hidden" });
    await chip("akiko.tanaka@contoso.com").locator(".chip-text", { hasText: "田中 明子" }).waitFor();
  });

  await step("server too slow: the deadline is reported in plain words", async () => {
    await page.route("**/mailtips.v1.MailTipsService/GetMailTips", async (route) => {
      await new Promise((r) => setTimeout(r, 7000));
      await route.continue().catch(() => {});
    });
    await type("to", "staff01@contoso.com\n");
    await page.locator("#error span", { hasText: "taking too long" }).waitFor({ timeout: 9000 });
    await page.unroute("**/mailtips.v1.MailTipsService/GetMailTips");
    await page.locator("#error button").click();
    await page.locator("#error").waitFor({ state: "hidden", timeout: TIMEOUT });
  });

  await step("INVALID_ARGUMENT names the field in plain words, From checked when it is left", async () => {
    const from = page.locator("#from");
    await from.focus();
    await page.keyboard.press("Control+A");
    await page.keyboard.type("taro.yamada", { delay: 5 });
    // Still typing: no request carries the half-typed sender, so nothing is flagged.
    assert((await from.getAttribute("aria-invalid")) === null, "From flagged while typing");
    await page.keyboard.press("Tab");
    const error = page.locator("#error span", { hasText: "The service could not check this draft. From: missing '@'" });
    await error.waitFor();
    assert((await from.getAttribute("aria-invalid")) === "true", "From not marked invalid");
    await page.locator('button[data-lang="ja"]').click();
    await page.locator("#error span", { hasText: "差出人：「@」がありません" }).waitFor();
    await page.locator('button[data-lang="en"]').click();
    await from.fill("taro.yamada@contoso.com");
    await from.press("Tab");
    await page.locator("#error").waitFor({ state: "hidden" });
    await tip("INVALID_INTERNAL_RECIPIENT", "not-an-address").waitFor();
  });

  await step("beyond Exchange: sent on behalf from a send-from address, visible outside domains", async () => {
    const from = page.locator("#from");
    await from.fill("taro.yamada@tailspin.example");
    await from.press("Tab");
    await type("cc", "x@gmail.example\n");
    await tip("SENT_ON_BEHALF").locator(".tip-text", { hasText: "on behalf of taro.yamada@contoso.com" }).waitFor();
    await tip("RECIPIENTS_VISIBLE").locator(".tip-count", { hasText: "2 outside domains" }).waitFor();
    await page.screenshot({ path: join(artifacts, "compose-new-tips-en.png"), fullPage: true });
    await page.locator('button[data-lang="ja"]').click();
    await tip("SENT_ON_BEHALF").locator(".tip-text", { hasText: "（taro.yamada@contoso.com 代理）" }).waitFor();
    await tip("WHOLE_AUDIENCE").locator(".tip-badge", { hasText: "大人数" }).waitFor();
    await page.screenshot({ path: join(artifacts, "compose-new-tips-ja.png"), fullPage: true });
    await page.locator('button[data-lang="en"]').click();
    await from.fill("taro.yamada@contoso.com");
    await from.press("Tab");
    await tip("SENT_ON_BEHALF").waitFor({ state: "detached" });
  });

  await step("no script errors on the page", async () => {
    // Aborted requests are logged by Chromium itself; the page's own errors are what count.
    const own = consoleErrors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::/.test(e));
    assert(own.length === 0, `console errors: ${own.join(" | ")}`);
  });
} catch {
  // Reported by step(); fall through to the summary.
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`e2e: ${passed} passed, ${failed} failed`);
console.log(`screenshots in ${artifacts}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
