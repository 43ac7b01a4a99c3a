// Builds the compose page into dist/ (index.html, assets/app.js, assets/app.css), minified,
// with esbuild. Deterministic: the same sources and lockfile give the same bytes.
// `node scripts/build.mjs --check` builds in memory and fails when dist/ (and the generated
// client in src/gen) differ from what the sources build; scripts/test.sh runs it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");

const common = {
  bundle: true,
  minify: true,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
  write: false,
};

async function build() {
  const js = await esbuild.build({
    ...common,
    entryPoints: [join(root, "src/main.ts")],
    outfile: "dist/assets/app.js",
    format: "iife",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
  });
  const css = await esbuild.build({
    ...common,
    entryPoints: [join(root, "src/app.css")],
    outfile: "dist/assets/app.css",
    target: ["chrome100", "firefox100", "safari15"],
  });
  const html = readFileSync(join(root, "src/index.html"), "utf8");
  return {
    "dist/index.html": html,
    "dist/assets/app.js": js.outputFiles[0].text,
    "dist/assets/app.css": css.outputFiles[0].text,
  };
}

function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

function checkGenerated() {
  // Regenerate the client into a scratch folder and compare with src/gen.
  const scratch = mkdtempSync(join(tmpdir(), "mailtips-gen-"));
  try {
    execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.yaml", "-o", scratch], {
      cwd: root,
      stdio: "inherit",
      // buf finds protoc-gen-es on PATH, as under `npm run`.
      env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}${delimiter}${process.env.PATH ?? ""}` },
    });
    const fresh = filesUnder(join(scratch, "src/gen")).map((p) => relative(scratch, p)).sort();
    const committed = filesUnder(join(root, "src/gen")).map((p) => relative(root, p)).sort();
    const bad = [];
    if (JSON.stringify(fresh) !== JSON.stringify(committed)) bad.push(`file list: ${committed} vs ${fresh}`);
    for (const f of fresh) {
      let have = "";
      try {
        have = readFileSync(join(root, f), "utf8");
      } catch {}
      if (have !== readFileSync(join(scratch, f), "utf8")) bad.push(f);
    }
    return bad;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const outputs = await build();
if (check) {
  const bad = checkGenerated();
  for (const [path, text] of Object.entries(outputs)) {
    let have = "";
    try {
      have = readFileSync(join(root, path), "utf8");
    } catch {}
    if (have !== text) bad.push(`web/${path}`);
  }
  if (bad.length > 0) {
    console.error(`The committed compose page is not what its sources build: ${bad.join(", ")}.`);
    console.error("Rebuild it with `npm run build` in web/ and commit web/dist and web/src/gen.");
    process.exit(1);
  }
  console.log("web/dist and web/src/gen match their sources");
} else {
  for (const [path, text] of Object.entries(outputs)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
    console.log(`${path}\t${Buffer.byteLength(text)} bytes`);
  }
}
