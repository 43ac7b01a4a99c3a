// The compose page against a server that requires a bearer token, in real headless Chromium:
// the token arrives in the URL fragment (#token=…), leaves the address bar at once, and every
// call carries it, so the tips appear. tests/it/auth_browser.rs starts the server and runs this
// with MAILTIPS_URL and MAILTIPS_TOKEN.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.MAILTIPS_URL;
const token = process.env.MAILTIPS_TOKEN;
const executablePath = process.env.MAILTIPS_CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 10_000;

const profile = mkdtempSync(join(tmpdir(), "mailtips-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
let ok = false;
try {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const seen = [];
  page.on("request", (r) => {
    if (r.url().includes("/mailtips.v1.MailTipsService/")) seen.push(r.headers()["authorization"] ?? "");
  });
  await page.goto(`${base}#token=${encodeURIComponent(token)}`);
  await page.locator("#to-input").fill("nobody@contoso.com");
  await page.keyboard.press("Enter");
  await page.locator('li.tip[data-kind="INVALID_INTERNAL_RECIPIENT"]').first().waitFor({ state: "visible" });
  const hash = await page.evaluate(() => location.hash);
  if (hash !== "") throw new Error(`the token stayed in the address bar: ${hash}`);
  if (seen.length === 0 || !seen.every((h) => h === `Bearer ${token}`)) {
    throw new Error(`calls without the bearer token: ${JSON.stringify(seen)}`);
  }
  console.log(`ok   the page sent the bearer token on ${seen.length} call(s) and kept it out of the URL`);
  ok = true;
} catch (e) {
  console.log(`FAIL ${e?.stack ?? e}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
