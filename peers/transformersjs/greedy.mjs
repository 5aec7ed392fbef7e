// Greedy continuations from transformers.js (onnxruntime-node, CPU), as an independent peer that runs
// onnx-steer's model directories as they are: model.onnx at the top (subfolder ""), config.json,
// generation_config.json, tokenizer.json and tokenizer_config.json beside it. Never touches the network.
// Usage: node greedy.mjs MODEL_DIR TOKENS PROMPT...
//   PROMPT: comma-separated token ids fed as they are (e.g. 1,403,407), or text:SOME TEXT, which
//   transformers.js's own tokenizer turns into ids (with the BOS its post-processor adds).
// Prints one JSON object: {"model", "runs": [{"prompt": [ids], "tokens": [ids]}]}; tokens ends with EOS
// when transformers.js generated it.
import path from "node:path";
import { env, AutoModelForCausalLM, AutoTokenizer, Tensor } from "@huggingface/transformers";

const [modelDir, tokenCount, ...promptArgs] = process.argv.slice(2);
if (!modelDir || !tokenCount || promptArgs.length === 0) {
  console.error("usage: node greedy.mjs MODEL_DIR TOKENS PROMPT... (comma-separated ids, or text:TEXT)");
  process.exit(2);
}
env.allowRemoteModels = false;
env.localModelPath = path.dirname(path.resolve(modelDir));
const name = path.basename(path.resolve(modelDir));
const options = { local_files_only: true };

const model = await AutoModelForCausalLM.from_pretrained(name, { ...options, subfolder: "", model_file_name: "model", dtype: "fp32" });
const tokenizer = promptArgs.some((arg) => arg.startsWith("text:")) ? await AutoTokenizer.from_pretrained(name, options) : null;
const runs = [];
for (const arg of promptArgs) {
  const prompt = arg.startsWith("text:") ? tokenizer.encode(arg.slice(5)) : arg.split(",").map(Number);
  const ids = new Tensor("int64", BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
  const mask = new Tensor("int64", new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
  const output = await model.generate({ input_ids: ids, attention_mask: mask, max_new_tokens: Number(tokenCount), do_sample: false });
  runs.push({ prompt, tokens: Array.from(output.data, Number).slice(prompt.length) });
}
console.log(JSON.stringify({ model: modelDir, runs }));
await model.dispose();
