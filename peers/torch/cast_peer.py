"""The PyTorch peer of conditional activation steering (CAST, IBM activation-steering's condition).

    /usr/bin/python3 peers/torch/cast_peer.py --out DIR

exports a seeded tiny llama with torch.onnx (inputs input_ids and attention_mask, output logits, no KV
cache) to DIR/model.onnx with config.json and tokenizer.json, and writes DIR/cast.json: a batch of
prompts of one length, and per scenario (aggregate, comparator) the condition vector and layer, the
threshold, each row's similarity and decision, and each row's greedy tokens when forward hooks steer
as activation-steering does:

- at the condition layer's block output h (the prompt's mean over its tokens, or its last token), with
  P = c c^T / (c . c), the row's condition is cos(h, tanh(P h)) compared with the threshold, decided on
  the first forward pass (the prompt) and kept for the rest of the generation;
- at the behaviour layer's block output a hook adds coefficient * v to the rows whose condition is met.

The threshold is halfway between the middle two similarities of the batch, so half the rows fire.
Greedy decoding recomputes the whole sequence each step. Nothing here reads onnx-steer's code.
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

PROMPTS = ["The cat", "A doll.", "My dog!", "Red car", "Big fish", "Toy box"]
NEW_TOKENS = 8
CONDITION_LAYER = 1
BEHAVIOUR_LAYER = 2
COEFFICIENT = 4.0
SCENARIOS = [("mean", "above"), ("last", "below")]


def prompt_ids():
    rows = [[1] + list(p.encode("utf-8"))[:7] for p in PROMPTS]
    assert all(len(r) == 8 for r in rows), "one prompt length: no padding, so positions need no shifting"
    return rows


def similarity(c, h):
    """cos(h, tanh(P h)) with P = c c^T / (c . c), for h [batch, hidden]."""
    projector = torch.outer(c, c) / torch.dot(c, c)
    projected = torch.tanh(h @ projector.T)
    return torch.nn.functional.cosine_similarity(h, projected, dim=-1)


class Cast:
    """The two hooks: decide at the condition layer on the prompt, then steer the rows that met it."""

    def __init__(self, model, c, threshold, comparator, aggregate, addend):
        self.c, self.threshold, self.comparator, self.aggregate, self.addend = c, threshold, comparator, aggregate, addend
        self.met = None
        self.similarities = None
        blocks = model.blocks()
        self.handles = [blocks[CONDITION_LAYER].register_forward_hook(self.decide),
                        blocks[BEHAVIOUR_LAYER].register_forward_hook(self.steer)]

    def decide(self, module, args, output):
        if self.met is None:
            h = output.mean(dim=1) if self.aggregate == "mean" else output[:, -1, :]
            self.similarities = similarity(self.c, h)
            self.met = self.similarities > self.threshold if self.comparator == "above" \
                else self.similarities < self.threshold
        return output

    def steer(self, module, args, output):
        return output + self.met.to(output.dtype)[:, None, None] * self.addend

    def remove(self):
        for h in self.handles:
            h.remove()


def greedy(model, rows):
    ids = torch.tensor(rows)
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = model(ids, torch.ones_like(ids))[:, -1]
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    return ids[:, len(rows[0]):].tolist()


def main():
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20240911)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()

    torch.manual_seed(a.seed)
    config = dict(models.LLAMA_CONFIG)
    model = models.seeded(models.LlamaForCausalLM(config), a.seed)
    hidden = config["hidden_size"]
    rows = prompt_ids()

    os.makedirs(a.out, exist_ok=True)
    example = torch.tensor(rows[:1])
    torch.onnx.export(model, (example, torch.ones_like(example)), os.path.join(a.out, "model.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=14,
                      dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                    "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
                                    "logits": {0: "batch_size", 1: "sequence_length"}})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer.byte_level(config["vocab_size"]), f, indent=2, ensure_ascii=False)

    gen = torch.Generator().manual_seed(a.seed + 1)
    behaviour = torch.randn(hidden, generator=gen)
    addend = COEFFICIENT * behaviour
    baseline = greedy(model, rows)
    scenarios = []
    for aggregate, comparator in SCENARIOS:
        c = torch.randn(hidden, generator=gen)
        probe = Cast(model, c, 0.0, comparator, aggregate, addend)
        greedy(model, rows[:])
        probe.remove()
        ordered = sorted(probe.similarities.tolist())
        middle = len(ordered) // 2
        threshold = (ordered[middle - 1] + ordered[middle]) / 2
        margin = min(abs(s - threshold) for s in ordered)
        cast = Cast(model, c, threshold, comparator, aggregate, addend)
        tokens = greedy(model, rows)
        cast.remove()
        scenarios.append({"aggregate": aggregate, "comparator": comparator, "condition_layer": CONDITION_LAYER,
                          "condition": [float(x) for x in c], "threshold": threshold, "threshold_margin": margin,
                          "similarities": cast.similarities.tolist(), "met": cast.met.tolist(), "tokens": tokens})
    with open(os.path.join(a.out, "cast.json"), "w") as f:
        json.dump({"prompts": rows, "behaviour_layer": BEHAVIOUR_LAYER, "coefficient": COEFFICIENT,
                   "behaviour": [float(x) for x in behaviour], "baseline": baseline, "scenarios": scenarios}, f,
                  indent=1)


if __name__ == "__main__":
    main()
