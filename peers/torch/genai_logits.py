"""Logits of an onnxruntime-genai builder-style model directory, computed by PyTorch from its weights.

    /usr/bin/python3 peers/torch/genai_logits.py MODEL_DIR TOKEN_ID...

reads MODEL_DIR/model.onnx (float32 initializers, with the builder's names: packed
model.layers.N.attn.qkv_proj.MatMul.weight [hidden, q|k|v], ...), genai_config.json (head_size,
heads, KV heads) and config.json (eps, rope theta, sizes), loads them into models.LlamaForCausalLM and
prints {"logits": [[...] per position]} for the token ids, full recompute, no cache. Nothing here reads
onnx-steer's code; the ONNX file is read with the onnx package alone.
"""
import json
import os
import sys

import onnx
import torch
from onnx import numpy_helper

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def main():
    directory, ids = sys.argv[1], [int(t) for t in sys.argv[2:]]
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(directory, "genai_config.json")) as f:
        decoder = json.load(f)["model"]["decoder"]
    graph = onnx.load(os.path.join(directory, "model.onnx")).graph
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    model = models.LlamaForCausalLM(config)
    q = decoder["num_attention_heads"] * decoder["head_size"]
    kv = decoder["num_key_value_heads"] * decoder["head_size"]
    state = {"model.embed_tokens.weight": weights["model.embed_tokens.weight"],
             "model.norm.weight": weights["model.norm.weight"],
             "lm_head.weight": weights["lm_head.MatMul.weight"].t()}
    for layer in range(decoder["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        qkv = weights[p + "attn.qkv_proj.MatMul.weight"].t()
        state[p + "self_attn.q_proj.weight"] = qkv[:q]
        state[p + "self_attn.k_proj.weight"] = qkv[q:q + kv]
        state[p + "self_attn.v_proj.weight"] = qkv[q + kv:]
        state[p + "self_attn.o_proj.weight"] = weights[p + "self_attn.o_proj.MatMul.weight"].t()
        for name in ("gate_proj", "up_proj", "down_proj"):
            state[p + f"mlp.{name}.weight"] = weights[p + f"mlp.{name}.MatMul.weight"].t()
        for name in ("input_layernorm", "post_attention_layernorm"):
            state[p + f"{name}.weight"] = weights[p + f"{name}.weight"]
    model.load_state_dict(state)
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0]
    json.dump({"logits": [[float(v) for v in row] for row in logits]}, sys.stdout)


if __name__ == "__main__":
    main()
