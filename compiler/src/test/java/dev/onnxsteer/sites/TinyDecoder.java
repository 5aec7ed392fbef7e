package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Small decoder graphs in the layouts deployed ONNX LLMs use, for discovery tests: the projection
 * encoding ({@link Linear}), the attention block ({@link Attention}), the norms ({@link Norms}) and the
 * MLP ({@link Mlp}) are chosen independently. Only the structure is real (the graphs are not meant to
 * run); the last node of every projection writes {@code <prefix>/output_0}, so the site names are
 * the same whatever the encoding, and a test can compare flavours by name.
 */
final class TinyDecoder {
    static final int LAYERS = 2;
    static final int HIDDEN = 16;
    static final int HEAD = 8;
    /** Packed q|k|v width: 2 query heads, 1 key and 1 value head. */
    static final int QKV = HIDDEN + 2 * HEAD;
    /** Not a multiple of MatMulNBits' block of 32, as the issue asks. */
    static final int FFN = 40;
    static final int VOCAB = 32;
    private static final String MS = "com.microsoft";

    enum Linear { FLOAT, MATMUL_NBITS, MATMUL_INTEGER, QDQ, BNB4 }

    /** SOFTMAX: packed q|k|v Split into MatMul-Softmax-MatMul; GQA: packed q|k|v into GroupQueryAttention; MHA: q, k, v with RotaryEmbedding into MultiHeadAttention. */
    enum Attention { SOFTMAX, GQA, MHA }

    /** SKIP_SIMPLIFIED: the model builder's; SKIP_LAYER_NORM: ORT's GPT-2 (bias inside the norm); LAYER_NORM: Add + LayerNormalization. */
    enum Norms { SKIP_SIMPLIFIED, SKIP_LAYER_NORM, LAYER_NORM }

    enum Mlp { SWIGLU, FAST_GELU, BIAS_GELU }

    record Layout(Linear linear, Attention attention, Norms norms, Mlp mlp) {}

    /** FLOAT: Gather of a float table; INT8: Gather of an int8 table, then DequantizeLinear; BLOCKS: com.microsoft GatherBlockQuantized (4-bit). */
    enum Embedding { FLOAT, INT8, BLOCKS }

    private final Layout layout;
    private final Embedding embedding;
    private final Graph g = new Graph("tiny");
    private final Random random = new Random(17);
    private final Map<Value, Value[]> dynamicQuantized = new IdentityHashMap<>();

    private TinyDecoder(Layout layout, Embedding embedding) {
        this.layout = layout;
        this.embedding = embedding;
    }

    static Model build(Layout layout) {
        return build(layout, Embedding.FLOAT);
    }

    static Model build(Layout layout, Embedding embedding) {
        return new TinyDecoder(layout, embedding).model();
    }

    private Model model() {
        Value ids = g.addInput("input_ids", ValueType.Tensor.of(DataType.INT64, Dim.param("batch"), Dim.param("seq")));
        Value mask = g.addInput("attention_mask", ValueType.Tensor.of(DataType.INT64, Dim.param("batch"), Dim.param("total")));
        Value h = embed(ids);
        Value normed = firstNorm(h);
        Value pending = null;
        for (int l = 0; l < LAYERS; l++) {
            String p = "/model/layers." + l;
            if (pending != null) {
                Value[] joined = join(p + "/input_layernorm", h, pending, "model.layers." + l + ".input_layernorm");
                h = joined[0];
                normed = joined[1];
            }
            Value attn = attention(p + "/attn", normed, mask, l);
            Value[] mid = join(p + "/post_attention_layernorm", h, attn, "model.layers." + l + ".post_attention_layernorm");
            h = mid[0];
            pending = mlp(p + "/mlp", mid[1], l);
        }
        Value last = finalNorm(h, pending);
        Value logits = linear("/lm_head", last, "lm_head.weight", HIDDEN, VOCAB);
        g.addOutput(logits);
        g.sortTopologically();
        return new Model(g);
    }

    private Value embed(Value ids) {
        String s = "/model/embed_tokens";
        String w = "model.embed_tokens.weight";
        return switch (embedding) {
            case FLOAT -> g.op("Gather").name(s + "/Gather").inputs(floats(w, VOCAB, HIDDEN), ids).value();
            case INT8 -> g.op("DequantizeLinear").name(s + "/DequantizeLinear")
                    .inputs(g.op("Gather").name(s + "/Gather").inputs(bytes(w + "_quantized", DataType.INT8, VOCAB, HIDDEN), ids)
                            .outputs(s + "/Gather_quantized").value(),
                            floats(w + "_scale", 1), bytes(w + "_zero_point", DataType.INT8, 1)).outputs(s + "/Gather_output_0").value();
            case BLOCKS -> g.op("GatherBlockQuantized").domain(MS).name(s + "/Gather")
                    .inputs(bytes(w + ".packed", DataType.UINT8, VOCAB, HIDDEN / 2), ids, floats(w + ".scales", VOCAB, 1))
                    .attr("bits", 4L).attr("block_size", 16L).attr("gather_axis", 0L).attr("quantize_axis", 1L).value();
        };
    }

    private Value firstNorm(Value h) {
        String s = "/model/layers.0/input_layernorm";
        Value gain = floats("model.layers.0.input_layernorm.weight", HIDDEN);
        if (layout.norms == Norms.SKIP_SIMPLIFIED) {
            return g.op("SimplifiedLayerNormalization").name(s + "/LayerNorm").inputs(h, gain).attr("epsilon", 1e-5f).value();
        }
        return g.op("LayerNormalization").name(s + "/LayerNorm").inputs(h, gain, floats("model.layers.0.input_layernorm.bias", HIDDEN))
                .attr("axis", -1L).value();
    }

    /** {residual sum, its norm}: the residual join of {@code sublayer} into {@code h}, and the norm after it. */
    private Value[] join(String s, Value h, Value sublayer, String weight) {
        Value gain = floats(weight + ".weight", HIDDEN);
        switch (layout.norms) {
            case SKIP_SIMPLIFIED -> {
                var node = g.op("SkipSimplifiedLayerNormalization").domain(MS).name(s + "/SkipLayerNorm")
                        .inputs(h, sublayer, gain).attr("epsilon", 1e-5f).outputCount(4).append();
                return new Value[] {node.output(3), node.output(0)};
            }
            case SKIP_LAYER_NORM -> {
                var node = g.op("SkipLayerNormalization").domain(MS).name(s + "/SkipLayerNorm")
                        .inputs(h, sublayer, gain, floats(weight + ".bias", HIDDEN), floats(s + ".sublayer_bias", HIDDEN))
                        .attr("epsilon", 1e-5f).outputCount(4).append();
                return new Value[] {node.output(3), node.output(0)};
            }
            default -> {
                Value sum = g.op("Add").name(s + "/Add").inputs(h, sublayer).value();
                Value normed = g.op("LayerNormalization").name(s + "/LayerNorm")
                        .inputs(sum, gain, floats(weight + ".bias", HIDDEN)).attr("axis", -1L).value();
                return new Value[] {sum, normed};
            }
        }
    }

    private Value finalNorm(Value h, Value mlpOut) {
        String s = "/model/norm";
        Value gain = floats("model.norm.weight", HIDDEN);
        return switch (layout.norms) {
            case SKIP_SIMPLIFIED -> g.op("SkipSimplifiedLayerNormalization").domain(MS).name(s + "/SkipLayerNorm")
                    .inputs(h, mlpOut, gain).attr("epsilon", 1e-5f).value();
            case SKIP_LAYER_NORM -> g.op("SkipLayerNormalization").domain(MS).name(s + "/SkipLayerNorm")
                    .inputs(h, mlpOut, gain, floats("model.norm.bias", HIDDEN), floats(s + ".sublayer_bias", HIDDEN))
                    .attr("epsilon", 1e-5f).value();
            case LAYER_NORM -> g.op("LayerNormalization").name(s + "/LayerNorm")
                    .inputs(g.op("Add").name(s + "/Add").inputs(h, mlpOut).value(), gain, floats("model.norm.bias", HIDDEN))
                    .attr("axis", -1L).value();
        };
    }

    private Value attention(String s, Value x, Value mask, int l) {
        String w = "model.layers." + l + ".attn.";
        Value context;
        if (layout.attention == Attention.MHA) {
            Value q = linear(s + "/q_proj", x, w + "q_proj.weight", HIDDEN, HIDDEN);
            Value k = linear(s + "/k_proj", x, w + "k_proj.weight", HIDDEN, HEAD);
            Value v = linear(s + "/v_proj", x, w + "v_proj.weight", HIDDEN, HEAD);
            Value positions = g.op("Cast").name(s + "/positions").inputs(mask).attr("to", (long) DataType.INT64.code()).value();
            Value cos = floats(w + "cos_cache", 64, HEAD / 2);
            Value sin = floats(w + "sin_cache", 64, HEAD / 2);
            Value qr = g.op("RotaryEmbedding").domain(MS).name(s + "/q_rotary").inputs(q, positions, cos, sin).value();
            Value kr = g.op("RotaryEmbedding").domain(MS).name(s + "/k_rotary").inputs(k, positions, cos, sin).value();
            context = g.op("MultiHeadAttention").domain(MS).name(s + "/MultiHeadAttention").inputs(qr, kr, v)
                    .attr("num_heads", 2L).value();
        } else {
            Value qkv = linear(s + "/qkv_proj", x, w + "qkv_proj.weight", HIDDEN, QKV);
            if (layout.attention == Attention.GQA) {
                Value lengths = g.op("ReduceSum").name(s + "/seqlens").inputs(mask, g.addInitializer(s + "/axes",
                        Tensor.vector(1))).value();
                Value seqlens = g.op("Cast").name(s + "/seqlens_k").inputs(lengths).attr("to", (long) DataType.INT32.code()).value();
                Value total = g.op("Cast").name(s + "/total").inputs(g.op("Shape").name(s + "/mask_shape").inputs(mask).value())
                        .attr("to", (long) DataType.INT32.code()).value();
                context = g.op("GroupQueryAttention").domain(MS).name(s + "/GroupQueryAttention")
                        .inputs(qkv, null, null, null, null, seqlens, total).attr("num_heads", 2L).attr("kv_num_heads", 1L)
                        .outputCount(3).value();
            } else {
                var split = g.op("Split").name(s + "/Split").inputs(qkv, g.addInitializer(s + "/split_sizes",
                        Tensor.vector(HIDDEN, HEAD, HEAD))).attr("axis", -1L).outputCount(3).append();
                Value kt = g.op("Transpose").name(s + "/Transpose").inputs(split.output(1)).value();
                Value scores = g.op("MatMul").name(s + "/scores").inputs(split.output(0), kt).value();
                Value probs = g.op("Softmax").name(s + "/Softmax").inputs(scores).attr("axis", -1L).value();
                context = g.op("MatMul").name(s + "/context").inputs(probs, split.output(2)).value();
            }
        }
        return linear(s + "/o_proj", context, w + "o_proj.weight", HIDDEN, HIDDEN);
    }

    private Value mlp(String s, Value x, int l) {
        String w = "model.layers." + l + ".mlp.";
        Value act = switch (layout.mlp) {
            case SWIGLU -> {
                Value gate = linear(s + "/gate_proj", x, w + "gate_proj.weight", HIDDEN, FFN);
                Value up = linear(s + "/up_proj", x, w + "up_proj.weight", HIDDEN, FFN);
                Value silu = g.op("Mul").name(s + "/act/Mul").inputs(gate, g.op("Sigmoid").name(s + "/act/Sigmoid").inputs(gate).value()).value();
                yield g.op("Mul").name(s + "/Mul").inputs(silu, up).value();
            }
            case FAST_GELU, BIAS_GELU -> {
                Value up = linear(s + "/up_proj", x, w + "up_proj.weight", HIDDEN, FFN);
                yield g.op(layout.mlp == Mlp.FAST_GELU ? "FastGelu" : "BiasGelu").domain(MS).name(s + "/Gelu")
                        .inputs(up, floats(w + "up_proj.bias", FFN)).value();
            }
        };
        return linear(s + "/down_proj", act, w + "down_proj.weight", FFN, HIDDEN);
    }

    /** {@code x W} in the layout's encoding; where a bias belongs, the next node (FastGelu, SkipLayerNormalization) adds it. */
    private Value linear(String s, Value x, String weight, int in, int out) {
        String output = s + "/output_0";
        return switch (layout.linear) {
            case FLOAT -> g.op("MatMul").name(s + "/MatMul").inputs(x, floats(weight, in, out)).outputs(output).value();
            case MATMUL_NBITS -> {
                long blocks = (in + 31) / 32;
                yield g.op("MatMulNBits").domain(MS).name(s + "/MatMulNBits")
                        .inputs(x, bytes(weight + ".packed", DataType.UINT8, out, blocks, 16), floats(weight + ".scales", out * blocks))
                        .attr("K", (long) in).attr("N", (long) out).attr("bits", 4L).attr("block_size", 32L)
                        .outputs(output).value();
            }
            case MATMUL_INTEGER -> {
                Value[] q = dynamicQuantized.computeIfAbsent(x, v -> {
                    var node = g.op("DynamicQuantizeLinear").name(s + "/DynamicQuantizeLinear").inputs(v).outputCount(3).append();
                    return new Value[] {node.output(0), node.output(1), node.output(2)};
                });
                Value product = g.op("MatMulInteger").name(s + "/MatMulInteger")
                        .inputs(q[0], bytes(weight + "_quantized", DataType.INT8, in, out), q[2],
                                bytes(weight + "_zero_point", DataType.INT8, 1)).value();
                Value cast = g.op("Cast").name(s + "/Cast").inputs(product).attr("to", (long) DataType.FLOAT.code()).value();
                Value scale = g.op("Mul").name(s + "/scale").inputs(q[1], floats(weight + "_scale", 1)).value();
                yield g.op("Mul").name(s + "/Mul").inputs(cast, scale).outputs(output).value();
            }
            case QDQ -> {
                Value w = g.op("DequantizeLinear").name(s + "/DequantizeLinear")
                        .inputs(bytes(weight + "_quantized", DataType.INT8, in, out), floats(weight + "_scale", out),
                                bytes(weight + "_zero_point", DataType.INT8, out)).attr("axis", 1L).value();
                yield g.op("MatMul").name(s + "/MatMul").inputs(x, w).outputs(output).value();
            }
            case BNB4 -> g.op("MatMulBnb4").domain(MS).name(s + "/MatMulBnb4")
                    .inputs(x, bytes(weight + ".packed", DataType.UINT8, (in * out + 1) / 2), floats(weight + ".absmax", (in * out + 63) / 64))
                    .attr("K", (long) in).attr("N", (long) out).attr("block_size", 64L).attr("quant_type", 1L)
                    .outputs(output).value();
        };
    }

    private Value floats(String name, long... dims) {
        long count = 1;
        for (long d : dims) {
            count *= d;
        }
        float[] values = new float[(int) count];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian() * 0.1f;
        }
        return g.addInitializer(name, Tensor.ofFloats(dims, values));
    }

    private Value bytes(String name, DataType type, long... dims) {
        long count = 1;
        for (long d : dims) {
            count *= d;
        }
        byte[] values = new byte[(int) count];
        random.nextBytes(values);
        return g.addInitializer(name, new Tensor(type, dims, new Tensor.Inline(ByteBuffer.wrap(values).order(ByteOrder.LITTLE_ENDIAN))));
    }
}
