// Greedy decode speed of transformers.js (onnxruntime-node, CPU) on one of onnx-steer's model directories, the
// peer figure for GenerationBench. Loading is not timed. Each repetition generates 1 token (the prefill and its
// first token) and then TOKENS tokens from the same prompt; the difference is TOKENS - 1 decode steps, so decode
// tok/s = (TOKENS - 1) / (time(TOKENS) - time(1)). EOS cannot end a run early (min_new_tokens), as the bench
// ignores EOS on its side. Never touches the network.
// Usage: node decode_speed.mjs MODEL_DIR TOKENS REPS PROMPT_IDS [THREADS [SPIN [ARENA]]]
//   PROMPT_IDS: comma-separated token ids fed as they are; THREADS: ONNX Runtime intra-op threads (0 or absent:
//   onnxruntime-node's default); SPIN: 1 or 0, session.intra_op.allow_spinning (absent: ONNX Runtime's default, 1);
//   ARENA: 1 or 0, enableCpuMemArena (absent: ONNX Runtime's default, 1).
// Prints one JSON object: {"model", "tokens", "reps", "threads", "spin", "prefill_ms", "decode_tokens_per_second"}
// (medians).
import path from "node:path";
import { performance } from "node:perf_hooks";
import { env, AutoModelForCausalLM, Tensor } from "@huggingface/transformers";

const [modelDir, tokenArg, repArg, promptArg, threadArg = "0", spinArg = "1", arenaArg = "1"] = process.argv.slice(2);
if (!modelDir || !tokenArg || !repArg || !promptArg) {
  console.error("usage: node decode_speed.mjs MODEL_DIR TOKENS REPS PROMPT_IDS [THREADS [SPIN [ARENA]]]");
  process.exit(2);
}
const tokens = Number(tokenArg);
const reps = Number(repArg);
const threads = Number(threadArg);
if (!(tokens >= 2) || !(reps >= 1) || !(threads >= 0) || !["0", "1"].includes(spinArg) || !["0", "1"].includes(arenaArg)) {
  console.error(`expected TOKENS >= 2, REPS >= 1, THREADS >= 0, SPIN and ARENA 0 or 1, got ${tokenArg}, ${repArg}, ${threadArg}, ${spinArg}, ${arenaArg}`);
  process.exit(2);
}
env.allowRemoteModels = false;
env.localModelPath = path.dirname(path.resolve(modelDir));
const name = path.basename(path.resolve(modelDir));
const session_options = { enableCpuMemArena: arenaArg === "1", extra: { session: { intra_op: { allow_spinning: spinArg } } } };
if (threads > 0) {
  session_options.intraOpNumThreads = threads;
}
const model = await AutoModelForCausalLM.from_pretrained(name, {
  local_files_only: true, subfolder: "", model_file_name: "model", dtype: "fp32", session_options,
});

const prompt = promptArg.split(",").map(Number);
const ids = new Tensor("int64", BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
const mask = new Tensor("int64", new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);

async function timed(count) {
  const start = performance.now();
  await model.generate({ input_ids: ids, attention_mask: mask, max_new_tokens: count, min_new_tokens: count, do_sample: false });
  return performance.now() - start;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

await timed(tokens); // warm-up: first-run allocations and kernel selection
const prefill = [];
const decode = [];
for (let i = 0; i < reps; i++) {
  const one = await timed(1);
  const all = await timed(tokens);
  prefill.push(one);
  decode.push((tokens - 1) / ((all - one) / 1000));
}
console.log(JSON.stringify({
  model: modelDir, tokens, reps, threads, spin: spinArg === "1", prefill_ms: median(prefill), decode_tokens_per_second: median(decode),
}));
await model.dispose();
