"""Tiny Hugging Face-shaped GPT-2 and llama modules in plain PyTorch, with seeded weights.

They mirror transformers' GPT2LMHeadModel (Conv1D = addmm, LayerNorm with affine, tanh GELU, tied
lm_head) and LlamaForCausalLM (RMSNorm, rotate_half rotary, SwiGLU, no biases) closely enough that
torch.onnx exports them the way it exports the real ones, module names included
(transformer.h.L.ln_1, model.layers.L.input_layernorm, ...). Written here rather than imported so
the peer needs only Debian's python3-torch.
"""
import math

import torch
from torch import nn


def causal_attention(q, k, v, key_mask=None):
    """softmax(q k^T / sqrt(d)) v over heads [batch, heads, t, d], each position seeing itself and earlier ones.

    key_mask [batch, t] (1 = a real token, 0 = padding), as transformers' attention_mask, hides padded keys.
    """
    b, heads, t, d = q.shape
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    if key_mask is not None:
        causal = causal & key_mask.bool()[:, None, None, :]
    scores = torch.where(causal, scores, torch.tensor(torch.finfo(scores.dtype).min))
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, heads * d)


class Conv1D(nn.Module):
    """GPT-2's Conv1D: y = x @ W + b with W stored [in, out], exported as Reshape, Gemm, Reshape."""

    def __init__(self, out_features, in_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.weight.size(-1),)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class Gpt2Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(3 * hidden, hidden)
        self.c_proj = Conv1D(hidden, hidden)

    def forward(self, x):
        b, t, h = x.shape
        q, k, v = self.c_attn(x).split(h, dim=2)
        q, k, v = (y.view(b, t, self.heads, h // self.heads).transpose(1, 2) for y in (q, k, v))
        return self.c_proj(causal_attention(q, k, v))


class Gpt2Mlp(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.c_fc = Conv1D(inner, hidden)
        self.c_proj = Conv1D(hidden, inner)

    def forward(self, x):
        y = self.c_fc(x)
        y = 0.5 * y * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (y + 0.044715 * torch.pow(y, 3.0))))
        return self.c_proj(y)


class Gpt2Block(nn.Module):
    def __init__(self, hidden, heads, inner, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = Gpt2Attention(hidden, heads)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = Gpt2Mlp(hidden, inner)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.h = nn.ModuleList(Gpt2Block(c["n_embd"], c["n_head"], 4 * c["n_embd"], c["layer_norm_epsilon"])
                               for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])

    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class Gpt2LMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = Gpt2Model(c)

    def forward(self, input_ids):
        return self.transformer(input_ids) @ self.transformer.wte.weight.t()

    def blocks(self):
        return self.transformer.h


class RmsNorm(nn.Module):
    def __init__(self, hidden, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, self.heads, self.kv_heads = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = h // self.heads
        self.theta = c["rope_theta"]
        self.q_proj = nn.Linear(h, h, bias=False)
        self.k_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(h, h, bias=False)

    def forward(self, x, key_mask=None):
        b, t, h = x.shape
        d = self.head_dim
        q = self.q_proj(x).view(b, t, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, d).transpose(1, 2)
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        freqs = torch.arange(t, dtype=torch.float32).unsqueeze(1) * inv_freq.unsqueeze(0)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k[:, :, None].expand(b, self.kv_heads, groups, t, d).reshape(b, self.heads, t, d)
        v = v[:, :, None].expand(b, self.kv_heads, groups, t, d).reshape(b, self.heads, t, d)
        return self.o_proj(causal_attention(q, k, v, key_mask))


class LlamaMlp(nn.Module):
    def __init__(self, h, inner):
        super().__init__()
        self.gate_proj = nn.Linear(h, inner, bias=False)
        self.up_proj = nn.Linear(h, inner, bias=False)
        self.down_proj = nn.Linear(inner, h, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = LlamaAttention(c)
        self.post_attention_layernorm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = LlamaMlp(c["hidden_size"], c["intermediate_size"])

    def forward(self, x, key_mask=None):
        x = x + self.self_attn(self.input_layernorm(x), key_mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(LlamaDecoderLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, input_ids, attention_mask=None):
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, input_ids, attention_mask=None):
        return self.lm_head(self.model(input_ids, attention_mask))

    def blocks(self):
        return self.model.layers


GPT2_CONFIG = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 256, "n_embd": 32,
               "n_layer": 3, "n_head": 4, "n_positions": 64, "layer_norm_epsilon": 1e-5,
               "activation_function": "gelu_new", "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": True}

LLAMA_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 256, "hidden_size": 32,
                "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
                "intermediate_size": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64,
                "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}


def seeded(model, seed, shared_gamma_layers=()):
    """Fills every parameter from torch.manual_seed(seed): norm gains around 1, biases and weights around 0.

    Layers in shared_gamma_layers get the norm gains of layer 0 (identical values, which torch.onnx
    deduplicates into Identity nodes of one initializer).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or ".ln_" in name and name.endswith(".weight") or "ln_f.weight" in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        blocks = list(model.blocks())
        for layer in shared_gamma_layers:
            for (name, p), (_, first) in zip(blocks[layer].named_parameters(), blocks[0].named_parameters()):
                if "norm" in name or name.startswith("ln_"):
                    if name.endswith("weight"):
                        p.copy_(first)
    return model.eval()
