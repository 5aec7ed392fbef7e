// The official OpenAI Node SDK (npm `openai`, pinned in package.json) against a running
// `onnx-steer serve`: models, chat, streaming chat, completions, and steering sent as extra body
// fields. Every text must equal what `onnx-steer generate` prints for the same settings.
//
// Imports stories260K into a temporary directory, extracts a vector with `onnx-steer extract`,
// serves with the Llama 2 chat template from testdata/, and stops the server at the end.
// Needs `mvn -B verify` (the CLI jar) and `npm ci` here. Without the `openai` package or the shared
// model the tests are skipped with a message, except when CI is set: then they fail.
//
// Usage: node --test clients/openai-node/

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { startServe, stopServe } from "../serve-process.mjs";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const launcher = join(root, "onnx-steer");
const gguf = resolve(root, "..", "shared", "models", "stories260K", "stories260K.gguf");
const template = join(root, "testdata", "chat-templates", "llama2.jinja");
const KEY = "node-client-key";
const SYSTEM = "You tell stories.";
const USER = "Tell me about a dog.";

let OpenAI = null;
let missing = null;
try {
  OpenAI = (await import("openai")).default;
} catch (e) {
  missing = "npm package openai is not installed (run npm ci in clients/openai-node): " + e.message;
}
if (!missing && !existsSync(gguf)) missing = "the shared model " + gguf + " is absent";
if (!missing && !existsSync(join(root, "cli", "target", "onnx-steer.jar"))) {
  missing = "cli/target/onnx-steer.jar is missing (run mvn -B verify first)";
}
if (missing && process.env.CI) {
  throw new Error("CI is set, so the OpenAI Node SDK tests must run, but " + missing);
}
const skip = missing ? "skipped: " + missing : false;
if (skip) process.stderr.write("openai-node: " + skip + "\n");

let work = null;
let server = null;
let client = null;
let model = null;
let vector = null;

function cli(...args) {
  const r = spawnSync(launcher, args, { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, "onnx-steer " + args.join(" ") + " failed:\n" + r.stderr);
  return r.stdout;
}

/** `onnx-steer generate --json` for one prompt, with the given extra options. */
function generate(...options) {
  return JSON.parse(cli("generate", model, "--device", "cpu", "--json", ...options));
}

function generateChat(...options) {
  return generate("--chat-template", template, "--system", SYSTEM, "--prompt", USER, ...options);
}

async function startServer(vectors) {
  const started = await startServe(launcher, [model, "--vectors", vectors, "--port", "0", "--device", "cpu",
    "--api-key", KEY, "--chat-template", template], { cwd: root });
  server = started.child;
  return started.base;
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "onnx-steer-openai-node-"));
  model = join(work, "stories");
  cli("import", gguf, "-o", model);
  const vectors = join(work, "vectors");
  vector = join(vectors, "sad.gguf");
  spawnSync("mkdir", ["-p", vectors]);
  cli("extract", model, "--positive", "Lily was sad", "--negative", "Lily was happy", "--layers", "3",
    "--device", "cpu", "--quiet", "-o", vector);
  const base = await startServer(vectors);
  client = new OpenAI({ baseURL: base + "/v1", apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  await stopServe(server);
  if (work) rmSync(work, { recursive: true, force: true });
});

const messages = [{ role: "system", content: SYSTEM }, { role: "user", content: USER }];

test("models.list names the served model", { skip }, async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["stories"]);
});

test("chat.completions.create equals generate --chat", { skip }, async () => {
  const reply = await client.chat.completions.create({ model: "stories", messages, max_tokens: 40, temperature: 0 });
  const expected = generateChat("--max-tokens", "40");
  assert.equal(reply.object, "chat.completion");
  assert.equal(reply.choices[0].message.role, "assistant");
  assert.equal(reply.choices[0].message.content, expected.text);
  assert.equal(reply.usage.completion_tokens, expected.generated_tokens);
  assert.equal(reply.usage.prompt_tokens, expected.prompt_tokens);
});

test("streaming chat delivers the same text and usage", { skip }, async () => {
  const stream = await client.chat.completions.create({ model: "stories", messages, max_completion_tokens: 30,
    temperature: 0.7, seed: 3, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let role = null;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    role = role ?? choice.delta.role ?? null;
    text += choice.delta.content ?? "";
    finish = choice.finish_reason ?? finish;
  }
  const expected = generateChat("--max-tokens", "30", "--temperature", "0.7", "--seed", "3");
  assert.equal(role, "assistant");
  assert.equal(text, expected.text);
  assert.equal(finish, expected.finish_reason === "length" ? "length" : "stop");
  assert.equal(usage.completion_tokens, expected.generated_tokens);
});

test("completions.create equals generate", { skip }, async () => {
  const reply = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24,
    temperature: 0 });
  assert.equal(reply.choices[0].text, generate("--prompt", "Once upon a time", "--max-tokens", "24").text);
});

test("steering as an extra body field equals generate --vector", { skip }, async () => {
  // Python's SDK calls these extra_body; the Node SDK sends unknown params in the body as they are.
  const reply = await client.chat.completions.create({ model: "stories", messages, max_tokens: 40, temperature: 0,
    steering: [{ vector: "sad", scale: 6 }] });
  const steered = generateChat("--max-tokens", "40", "--vector", vector + ":6");
  const plain = generateChat("--max-tokens", "40");
  assert.equal(reply.choices[0].message.content, steered.text);
  assert.notEqual(steered.text, plain.text, "the vector changes the reply");
  const stream = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24,
    temperature: 0, stream: true, steering: [{ vector: "sad", scale: 6 }] });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
  assert.equal(text, generate("--prompt", "Once upon a time", "--max-tokens", "24", "--vector", vector + ":6").text);
});

test("errors arrive as the SDK's typed errors", { skip }, async () => {
  await assert.rejects(client.chat.completions.create({ model: "stories", messages, n: 2 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "n");
  const anonymous = new OpenAI({ baseURL: client.baseURL, apiKey: "wrong", maxRetries: 0 });
  await assert.rejects(anonymous.chat.completions.create({ model: "stories", messages }),
    (e) => e instanceof OpenAI.AuthenticationError);
});
