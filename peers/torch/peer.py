"""The PyTorch peer: exports a seeded tiny GPT-2 or llama with torch.onnx and steers it with forward hooks.

    /usr/bin/python3 peers/torch/peer.py --family gpt2 --opset 14 [--shared-gammas] --out DIR

writes DIR/model.onnx (torch.onnx.export, input input_ids, output logits, no KV cache), DIR/config.json,
DIR/tokenizer.json (one token per byte) and DIR/hooks.json: the prompt, the unsteered greedy tokens and,
for every layer and site, the vector, coefficient and greedy tokens with a forward hook adding
coefficient * vector to that module's output:

    attn_in    ln_1 / input_layernorm               (the norm's full output, affine included)
    attn_out   attn / self_attn
    mlp_in     ln_2 / post_attention_layernorm
    mlp_out    mlp
    resid_post the block itself (transformer.h.L / model.layers.L)

Greedy decoding recomputes the whole sequence each step, so the hook sees every position every time,
as the compiled ONNX model steers every position. Nothing here reads onnx-steer's code.
"""
import argparse
import json
import os
import sys
import warnings

import torch

sys.dont_write_bytecode = True  # the tests run this from the source tree; leave no __pycache__ there
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import tokenizer  # noqa: E402

PROMPT = [1, 84, 104, 101, 32, 99, 97, 116]
NEW_TOKENS = 8
SITES = {
    "gpt2": {"attn_in": "ln_1", "attn_out": "attn", "mlp_in": "ln_2", "mlp_out": "mlp", "resid_post": ""},
    "llama": {"attn_in": "input_layernorm", "attn_out": "self_attn", "mlp_in": "post_attention_layernorm",
              "mlp_out": "mlp", "resid_post": ""},
}
BLOCKS = {"gpt2": "transformer.h", "llama": "model.layers"}


def greedy(model, hook_module=None, addend=None):
    handle = None
    if hook_module is not None:
        handle = hook_module.register_forward_hook(lambda module, args, output: output + addend)
    try:
        ids = list(PROMPT)
        margins = []
        with torch.no_grad():
            for _ in range(NEW_TOKENS):
                logits = model(torch.tensor([ids]))[0, -1]
                top = torch.topk(logits, 2).values
                margins.append(float(top[0] - top[1]))
                ids.append(int(torch.argmax(logits)))
        return ids[len(PROMPT):], min(margins)
    finally:
        if handle is not None:
            handle.remove()


def main():
    # the tracer's notes on Python-side shape arithmetic are about export generality, not correctness here
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", choices=["gpt2", "llama"], required=True)
    parser.add_argument("--opset", type=int, required=True)
    parser.add_argument("--shared-gammas", action="store_true",
                        help="layers 1.. get the norm gains of layer 0, so torch.onnx deduplicates them")
    parser.add_argument("--coefficient", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()

    torch.manual_seed(a.seed)
    config = dict(models.GPT2_CONFIG if a.family == "gpt2" else models.LLAMA_CONFIG)
    model_class = models.Gpt2LMHeadModel if a.family == "gpt2" else models.LlamaForCausalLM
    layers = config["n_layer" if a.family == "gpt2" else "num_hidden_layers"]
    hidden = config["n_embd" if a.family == "gpt2" else "hidden_size"]
    shared = range(1, layers) if a.shared_gammas else ()
    model = models.seeded(model_class(config), a.seed, shared)

    os.makedirs(a.out, exist_ok=True)
    torch.onnx.export(model, (torch.tensor([PROMPT]),), os.path.join(a.out, "model.onnx"),
                      input_names=["input_ids"], output_names=["logits"], opset_version=a.opset,
                      dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                    "logits": {0: "batch_size", 1: "sequence_length"}})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer.byte_level(config["vocab_size"]), f, indent=2, ensure_ascii=False)

    vector = torch.randn(hidden, generator=torch.Generator().manual_seed(a.seed + 1))
    addend = (a.coefficient * vector).to(torch.float32)
    baseline, baseline_margin = greedy(model)
    cases = []
    for layer, block in enumerate(model.blocks()):
        for kind, child in SITES[a.family].items():
            module = block.get_submodule(child) if child else block
            tokens, margin = greedy(model, module, addend)
            cases.append({"site": f"{kind}.{layer}",
                          "module": f"{BLOCKS[a.family]}.{layer}" + (f".{child}" if child else ""),
                          "tokens": tokens, "margin": margin})
    with open(os.path.join(a.out, "hooks.json"), "w") as f:
        json.dump({"family": a.family, "opset": a.opset, "shared_gammas": a.shared_gammas, "prompt": PROMPT,
                   "coefficient": a.coefficient, "vector": [float(x) for x in vector.to(torch.float32)],
                   "baseline": baseline, "baseline_margin": baseline_margin, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
