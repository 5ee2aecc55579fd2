// Bundles each test/*.test.mjs (which import the TypeScript sources) with
// esbuild into a temp dir and runs them with `node --test`.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const frontendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tests = readdirSync(path.join(frontendDir, "test")).filter((f) => f.endsWith(".test.mjs")).sort();
const outdir = mkdtempSync(path.join(tmpdir(), "nantrace-test-"));
try {
  await esbuild.build({
    absWorkingDir: frontendDir,
    entryPoints: tests.map((f) => `test/${f}`),
    outdir,
    bundle: true,
    format: "esm",
    platform: "node",
    target: ["node18"],
    outExtension: { ".js": ".mjs" },
    loader: { ".css": "text" },
    logLevel: "warning",
  });
  const files = tests.map((f) => path.join(outdir, f));
  const r = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
