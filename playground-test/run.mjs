// End-to-end test of the playground page served by `onnx-steer serve`, in headless Chromium.
//
// Imports stories260K (../shared/models) into a temporary directory, writes one steering vector,
// starts `./onnx-steer serve` on a free loopback port, and drives the page with playwright-core and
// the Debian chromium: type a prompt, pick the vector, move the scale slider, and check that the
// unsteered and steered panes both fill and differ; add a second vector with its own slider; sweep
// the first vector's scale (one row per scale); then chat mode. Exits 0 on success, 1 on failure.
//
// Usage (after `mvn -B verify` has built cli/target/onnx-steer.jar): node playground-test/run.mjs

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServe, stopServe } from "../clients/serve-process.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const launcher = join(root, "onnx-steer");
const gguf = resolve(root, "..", "shared", "models", "stories260K", "stories260K.gguf");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const work = mkdtempSync(join(tmpdir(), "onnx-steer-playground-"));
let server = null;
let context = null;

function log(line) {
  process.stderr.write("playground-test: " + line + "\n");
}

/** A safetensors file with one F32 tensor layers.LAYER: a fixed pseudo-random direction of L2 norm `norm`. */
function writeVector(path, layer, hidden, norm, seed) {
  const values = new Float32Array(hidden);
  let state = seed >>> 0;
  let sum = 0;
  for (let i = 0; i < hidden; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 32 - 0.5;
    sum += values[i] * values[i];
  }
  for (let i = 0; i < hidden; i++) values[i] *= norm / Math.sqrt(sum);
  const header = JSON.stringify({
    __metadata__: { "onnx_steer.site": "resid_post", "onnx_steer.method": "random" },
    ["layers." + layer]: { dtype: "F32", shape: [hidden], data_offsets: [0, hidden * 4] },
  });
  const headerBytes = Buffer.from(header, "utf8");
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileSync(path, Buffer.concat([length, headerBytes, Buffer.from(values.buffer)]));
}

function startServer(model, vectors) {
  return startServe(launcher, [model, "--vectors", vectors, "--port", "0", "--device", "cpu",
    "--chat-template", join(root, "testdata", "chat-templates", "llama2.jinja")], { cwd: root, echo: true })
    .then(({ child, base }) => {
      server = child;
      return base;
    });
}

async function stopServer() {
  if (await stopServe(server)) log("server did not stop after SIGTERM; killed it");
}

async function main() {
  if (!existsSync(gguf)) throw new Error("missing " + gguf);
  if (!existsSync(chromiumPath)) throw new Error("missing " + chromiumPath + " (apt-get install -y chromium)");
  const model = join(work, "stories");
  const imported = spawnSync(launcher, ["import", gguf, "-o", model], { cwd: root, stdio: "inherit" });
  if (imported.status !== 0) throw new Error("import failed with " + imported.status);
  const vectors = join(work, "vectors");
  mkdirSync(vectors);
  writeVector(join(vectors, "brave.safetensors"), 2, 64, 6, 12345);
  writeVector(join(vectors, "calm.safetensors"), 4, 64, 6, 777);

  const base = await startServer(model, vectors);
  log("server at " + base);

  context = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on("pageerror", (e) => log("page error: " + e.message));
  await page.goto(base + "/", { waitUntil: "load" });

  const steerRow = (n) => page.locator("#steer-rows .steer-row").nth(n);
  await steerRow(0).locator(".vector option[value='brave']").waitFor({ state: "attached", timeout: 30_000 });
  await page.locator("#prompt").fill("Once upon a time");
  await steerRow(0).locator(".vector").selectOption("brave");
  await steerRow(0).locator(".scale").fill("8");      // moves the slider: fires input and change, which generates
  await steerRow(0).locator(".scale-value").filter({ hasText: "8" }).waitFor({ timeout: 10_000 });

  const done = (id) => page.waitForFunction((el) => document.getElementById(el).dataset.done === "true", id,
    { timeout: 60_000 });
  await Promise.all([done("plain"), done("steered")]);
  const plain = await page.locator("#plain").textContent();
  const steeredHard = await page.locator("#steered").textContent();
  const label = await page.locator("#steer-label").textContent();
  log("unsteered: " + JSON.stringify(plain));
  log("steered " + label + ": " + JSON.stringify(steeredHard));
  if (!plain || plain.trim().length === 0) throw new Error("the unsteered pane is empty");
  if (!steeredHard || steeredHard.trim().length === 0) throw new Error("the steered pane is empty");
  if (plain === steeredHard) throw new Error("the steered pane equals the unsteered pane");
  if (label !== "(brave × 8)") throw new Error("the steered pane does not name brave × 8: " + label);
  log("ok: both panes filled and differ");

  // at a gentler scale: the first difference is marked in both panes, and the text before it is shared
  await steerRow(0).locator(".scale").fill("0.5");
  await page.waitForFunction(() => document.getElementById("steered").dataset.compared === "true", null,
    { timeout: 60_000 });
  const steered = await page.locator("#steered").textContent();
  const plainAgain = await page.locator("#plain").textContent();
  if (plainAgain !== plain) throw new Error("the unsteered pane changed with the scale");
  const marked = await page.locator("#steered mark.diff").textContent();
  const shared = steered.slice(0, steered.length - marked.length);
  if (!marked || !steered.endsWith(marked)) throw new Error("no highlighted tail in the steered pane: " + marked);
  log("steered × 0.5: " + JSON.stringify(steered));
  if (!plain.startsWith(shared) || plain[shared.length] === steered[shared.length]) {
    throw new Error("the highlight does not start at the first difference (" + shared.length + ")");
  }
  const diffStatus = await page.locator("#diff-status").textContent();
  if (diffStatus !== "first difference at character " + shared.length) throw new Error("diff status: " + diffStatus);
  log("ok: first difference at character " + shared.length + " highlighted");

  // two vectors, each with its own slider: both go in the request's steering list, and the text changes
  const sentSteering = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith("/v1/completions")) sentSteering.push(JSON.parse(r.postData()).steering ?? null);
  });
  await page.locator("#steer-rows .steer-row").count().then((n) => { if (n !== 1) throw new Error(n + " steering rows at start"); });
  await page.locator("#add-vector").click();          // the new row picks the vector not yet used: calm
  if (await steerRow(1).locator(".vector").inputValue() !== "calm") throw new Error("the added row did not pick calm");
  await steerRow(1).locator(".scale").fill("10");
  await page.waitForFunction(() => document.getElementById("steered").dataset.compared === "true"
      && document.getElementById("steer-label").textContent.includes("calm × 10"), null, { timeout: 60_000 });
  const bothLabel = await page.locator("#steer-label").textContent();
  if (bothLabel !== "(brave × 0.5 + calm × 10)") throw new Error("two-vector label: " + bothLabel);
  const both = (await page.locator("#steered").textContent());
  log("steered " + bothLabel + ": " + JSON.stringify(both));
  if (both === steered) throw new Error("adding calm × 10 did not change the steered text");
  if ((await page.locator("#plain").textContent()) !== plain) throw new Error("the unsteered pane changed with a second vector");
  const last = JSON.stringify(sentSteering[sentSteering.length - 1]);
  if (last !== JSON.stringify([{ vector: "brave", scale: 0.5 }, { vector: "calm", scale: 10 }])) {
    throw new Error("the last steered request sent steering " + last);
  }
  log("ok: two vectors with a slider each; the request carried " + last);

  // remove calm again, then sweep brave over four scales: one row per scale, same prompt and seed
  await steerRow(1).locator(".remove").click();
  await page.locator("#sweep-scales").fill("-2, 0, 0.5, 1.5, 8");
  await page.locator("#sweep").check();               // fires change, which generates the sweep
  await page.waitForFunction(() => document.getElementById("sweep-table").dataset.done === "true", null,
    { timeout: 90_000 });
  if (!(await page.locator("#panes").isHidden())) throw new Error("the side-by-side panes still show during a sweep");
  const rows = page.locator("#sweep-rows .sweep-row");
  const labels = await rows.locator(".sweep-label").allTextContents();
  const texts = await rows.locator(".out").allTextContents();
  for (let i = 0; i < labels.length; i++) log("sweep " + labels[i] + ": " + JSON.stringify(texts[i]));
  const wanted = ["brave × -2", "brave × 0", "brave × 0.5", "brave × 1.5", "brave × 8"];
  if (JSON.stringify(labels) !== JSON.stringify(wanted)) throw new Error("sweep row labels: " + JSON.stringify(labels));
  if (texts.some((t) => t.trim().length === 0)) throw new Error("an empty sweep row");
  // batched together, each row still equals what the same steering gives alone
  if (texts[1] !== plain) throw new Error("the scale 0 row differs from the unsteered text");
  if (texts[2] !== steered) throw new Error("the scale 0.5 row differs from the earlier brave × 0.5 text");
  if (texts[4] !== steeredHard) throw new Error("the scale 8 row differs from the earlier brave × 8 text");
  const distinct = new Set(texts).size;
  if (distinct !== texts.length) throw new Error("only " + distinct + " distinct texts over " + texts.length + " scales");
  const sweepStatus = await page.locator("#diff-status").textContent();
  if (sweepStatus !== "5 scales, 5 distinct continuations") throw new Error("sweep status: " + sweepStatus);
  log("ok: sweep of 5 scales, all distinct; scale 0 equals unsteered, 0.5 and 8 equal their single runs");

  if (process.env.PLAYGROUND_SCREENSHOT) {
    await page.screenshot({ path: process.env.PLAYGROUND_SCREENSHOT, fullPage: true });
    log("wrote " + process.env.PLAYGROUND_SCREENSHOT);
  }

  // a bad scale list is one clear line, and no rows
  await page.locator("#sweep-scales").fill("0, lots");
  await page.locator("#sweep-scales").dispatchEvent("change");
  await page.locator("#diff-status").filter({ hasText: "sweep:" }).waitFor({ timeout: 10_000 });
  const badStatus = await page.locator("#diff-status").textContent();
  if (badStatus !== 'sweep: expected numbers such as -4, 0, 4, found "lots"') throw new Error("bad sweep status: " + badStatus);
  if (await rows.count() !== 0) throw new Error("a bad scale list left sweep rows");
  await page.locator("#sweep").uncheck();            // back to side by side for chat
  log("ok: a bad scale list is refused with one line");

  // chat mode: the prompt goes to /v1/chat/completions as one user message
  await page.locator("#prompt").fill("Tell me about a dog.");
  await page.locator("#chat").check(); // fires change, which generates
  await page.waitForFunction(() => document.getElementById("steered").dataset.compared === "true", null,
    { timeout: 60_000 });
  const chatPlain = await page.locator("#plain").textContent();
  const chatSteered = await page.locator("#steered").textContent();
  const chatStatus = await page.locator("#plain-status").textContent();
  log("chat unsteered: " + JSON.stringify(chatPlain));
  if (!chatPlain || chatPlain.trim().length === 0 || !chatStatus.startsWith("finished")) {
    throw new Error("chat mode gave no reply: " + chatStatus);
  }
  if (chatPlain === plain) throw new Error("chat mode answered like plain completion");
  if (chatPlain === chatSteered) throw new Error("chat: the steered reply equals the unsteered one");
  log("ok: chat mode replies, steered and unsteered differ");
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  log("FAILED: " + (e && e.stack ? e.stack : e));
} finally {
  if (context) await context.close().catch(() => {});
  await stopServer();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
