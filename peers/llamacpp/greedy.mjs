// Greedy continuations from llama.cpp, as an independent peer for onnx-steer's GGUF import.
// Usage: node greedy.mjs MODEL.gguf TOKENS PROMPT...
//   PROMPT: comma-separated token ids fed as they are (e.g. 1,403,407), or text:SOME TEXT, which llama.cpp's
//   own tokenizer turns into ids after the model's BOS.
// Prints one JSON object: {"model", "runs": [{"prompt": [ids], "tokens": [ids], "margins": [p1 - p2, ...]}]}
// where margins[i] is the gap between the two most probable next tokens at step i (the greedy pick is the first)
// and tokens ends with EOS when llama.cpp generated it.
// Runs offline on the prebuilt CPU binary: no GPU, never builds llama.cpp from source.
import { getLlama } from "node-llama-cpp";

const [modelPath, tokenCount, ...promptArgs] = process.argv.slice(2);
if (!modelPath || !tokenCount || promptArgs.length === 0) {
  console.error("usage: node greedy.mjs MODEL.gguf TOKENS PROMPT... (comma-separated ids, or text:TEXT)");
  process.exit(2);
}
const steps = Number(tokenCount);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const prompts = promptArgs.map((arg) =>
  arg.startsWith("text:") ? [model.tokens.bos, ...model.tokenize(arg.slice(5))] : arg.split(",").map(Number));
const runs = [];
for (const prompt of prompts) {
  // a fresh context per prompt: nothing cached from the previous run
  const context = await model.createContext({ contextSize: prompt.length + steps + 8, sequences: 1, threads: 1 });
  const sequence = context.getSequence();
  const tokens = [];
  const margins = [];
  const eog = new Set([model.tokens.eos].filter((t) => t != null));
  for await (const step of sequence.evaluateWithMetadata(prompt, { probabilities: true }, { temperature: 0, yieldEogToken: true })) {
    const top = [...step.probabilities.values()].sort((a, b) => b - a);
    tokens.push(step.token);
    margins.push(top[0] - (top[1] ?? 0));
    if (tokens.length >= steps || eog.has(step.token)) break;
  }
  runs.push({ prompt, tokens, margins });
  await context.dispose();
}
console.log(JSON.stringify({ model: modelPath, runs }));
await model.dispose();
await llama.dispose();
