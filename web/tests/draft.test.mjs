// Unit tests of the page's pure helpers (src/draft.ts), with node's test runner; esbuild turns
// the TypeScript into a module in memory. Run: `npm test` in web/ (scripts/test.sh does).
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const src = join(dirname(fileURLToPath(import.meta.url)), "../src/draft.ts");
const out = await build({ entryPoints: [src], bundle: true, format: "esm", write: false, logLevel: "warning" });
const { splitAddresses, estimateSize, humanSize, utf8Length } = await import(
  `data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`
);

test("commas, semicolons, line breaks and spaces separate addresses", () => {
  assert.deepEqual(splitAddresses("a@x.com, b@x.com;c@x.com\nd@x.com\r\ne@x.com\tf@x.com g@x.com"), [
    "a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com", "f@x.com", "g@x.com",
  ]);
  assert.deepEqual(splitAddresses(" ;, \n "), []);
});

test("a pasted display name keeps only the address", () => {
  assert.deepEqual(splitAddresses("佐藤 花子 <hanako.sato@contoso.com>; Board <board@contoso.com>"), [
    "hanako.sato@contoso.com", "board@contoso.com",
  ]);
  assert.deepEqual(splitAddresses("Nobody <>"), []);
});

test("malformed text is kept for the service to judge", () => {
  assert.deepEqual(splitAddresses("not-an-address"), ["not-an-address"]);
});

test("size: UTF-8 text plus base64 attachments, rounded up to 4 KiB", () => {
  assert.equal(utf8Length("日本"), 6);
  assert.equal(estimateSize("", "", 0), 4096);
  assert.equal(estimateSize("", "", Number.NaN), 4096);
  assert.equal(estimateSize("", "", -3), 4096);
  const twelve = estimateSize("s", "b", 12);
  assert.ok(twelve >= 16_000_000 && twelve < 16_010_000, String(twelve));
  assert.equal(twelve % 4096, 0);
});

test("sizes read in decimal units", () => {
  assert.equal(humanSize(512), "512 B");
  assert.equal(humanSize(4096), "4 KB");
  assert.equal(humanSize(16_003_072), "16.0 MB");
  assert.equal(humanSize(2_500_000_000), "2.5 GB");
});

// The service's validation reasons in Japanese (src/reasons.ts).
const reasonsOut = await build({
  entryPoints: [join(dirname(fileURLToPath(import.meta.url)), "../src/reasons.ts")],
  bundle: true,
  format: "esm",
  write: false,
  logLevel: "warning",
});
const { localReason } = await import(
  `data:text/javascript;base64,${Buffer.from(reasonsOut.outputFiles[0].text).toString("base64")}`
);

test("validation reasons read in Japanese when the page is Japanese", () => {
  assert.equal(localReason("ja", "missing '@'"), "「@」がありません");
  assert.equal(localReason("ja", "domain needs at least one dot"), "ドメインにドット（.）が必要です");
  assert.equal(
    localReason("ja", "1001 recipients is more than the maximum of 1000 per request"),
    "宛先が 1001 件あり、上限の 1000 件を超えています",
  );
  assert.equal(localReason("en", "missing '@'"), "missing '@'");
  assert.equal(localReason("ja", "something new"), "something new");
});
