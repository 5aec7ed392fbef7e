package dev.onnxsteer.importer;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.NodeBuilder;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A llama-family decoder laid out as the onnxruntime-genai model builder writes it for CPU (opset 21 plus
 * com.microsoft 1). The one writer of that layout: the GGUF importer ({@code import --format genai}) and the
 * test fixtures both build through it, each handing it its weights through {@link Weights}.
 *
 * <p>Inputs {@code input_ids}, {@code attention_mask} and {@code past_key_values.N.key/value} (no {@code
 * position_ids}); {@code seqlens_k} (mask sum - 1, int32) and {@code total_sequence_length} (mask width, int32)
 * computed from the mask; layer 0's input norm a {@code SimplifiedLayerNormalization}, every later norm a {@code
 * SkipSimplifiedLayerNormalization} doing the residual Add (output 3 the sum), the final norm with output 0 only
 * (or output 3 too, see {@link #build});
 * one packed q|k|v projection per layer into {@code GroupQueryAttention}. Rotary embedding either fused into GQA
 * ({@code do_rotary=1} with {@code cos_cache}/{@code sin_cache}) or, the builder's unfused path, q and k split off
 * the packed projection and rotated by {@code RotaryEmbedding} (positions cumsum(mask) - 1) before a GQA with
 * {@code do_rotary=0}: ONNX Runtime's CPU kernel allows the fused rotary only for head sizes that are multiples
 * of 16 (see {@link Rotary#forHeadSize}). Node names are the builder's ({@code /model/layers.0/attn/qkv_proj/MatMul},
 * outputs {@code <node>/output_0}). gemma scales the embeddings by sqrt(hidden) and uses {@code Gelu} (tanh).
 */
public final class GenaiGraph {
    /** How q and k are rotated. */
    public enum Rotary {
        /** Inside GroupQueryAttention ({@code do_rotary=1}). */
        FUSED,
        /** com.microsoft RotaryEmbedding before a GroupQueryAttention with {@code do_rotary=0}. */
        ROTARY_EMBEDDING;

        /** FUSED where ONNX Runtime's CPU GroupQueryAttention accepts it ("head_size shall be a multiple of 16"). */
        public static Rotary forHeadSize(int headDim) {
            return headDim % 16 == 0 ? FUSED : ROTARY_EMBEDDING;
        }
    }

    /** The single-matrix projections besides q|k|v, by the Hugging Face weight each one is. */
    public enum Projection {
        O_PROJ("self_attn.o_proj"), GATE_PROJ("mlp.gate_proj"), UP_PROJ("mlp.up_proj"), DOWN_PROJ("mlp.down_proj"), LM_HEAD(null);

        private final String module;

        Projection(String module) {
            this.module = module;
        }

        /** The Hugging Face weight name of this projection in {@code layer} ({@code lm_head.weight} for the head). */
        public String weightName(int layer) {
            return module == null ? "lm_head.weight" : "model.layers." + layer + "." + module + ".weight";
        }
    }

    /** The RMSNorm weights, by the Hugging Face name each one has. */
    public enum Norm {
        INPUT("input_layernorm"), POST_ATTENTION("post_attention_layernorm"), FINAL(null);

        private final String module;

        Norm(String module) {
            this.module = module;
        }

        public String weightName(int layer) {
            return module == null ? "model.norm.weight" : "model.layers." + layer + "." + module + ".weight";
        }
    }

    /**
     * Where the weights come from. Each method adds what it needs to the graph when it is called (the writer calls
     * them in graph order, so initializers are declared in the order nodes use them). A projection's node is named
     * {@code scope/<op>} (MatMul or MatMulNBits) and its output {@code scope/<op>/output_0}.
     */
    public interface Weights {
        /** The token embedding table, float32 [vocab, hidden]. */
        Value embedding();

        /** An RMSNorm weight, float32 [hidden]. */
        Value norm(int layer, Norm norm);

        /** {@code x} projected by {@code projection} of {@code layer}. */
        Value linear(String scope, Value x, int layer, Projection projection);

        /** {@code x} projected to q|k|v side by side ([.., heads*D + 2*kvHeads*D]), q and k in half-split rotary order. */
        Value qkv(String scope, Value x, int layer);
    }

    private final Graph g;
    private final LlamaConfig c;
    private final Rotary rotary;
    private final float[] inverseFrequencies;
    private final Weights w;
    private final boolean finalSum;
    private final Map<String, Integer> counts = new HashMap<>();
    private final List<Value> presents = new ArrayList<>();

    private GenaiGraph(Graph g, LlamaConfig c, Rotary rotary, float[] inverseFrequencies, Weights w, boolean finalSum) {
        this.g = g;
        this.finalSum = finalSum;
        this.c = c;
        this.rotary = rotary;
        this.inverseFrequencies = inverseFrequencies;
        this.w = w;
    }

    /**
     * Builds the decoder of {@code config} into {@code graph}: inputs, every node and the outputs {@code logits},
     * {@code present.N.key/value}. {@code inverseFrequencies} ([head_dim / 2]) fill the rotary caches of
     * {@code config.contextLength()} positions. With {@code finalSum} the final norm also has output 3, the residual
     * sum, so the last block's output ({@code resid_post} of the last layer) is a tensor steering can reach; the
     * builder's own graphs have output 0 only there.
     */
    public static void build(Graph graph, LlamaConfig config, Rotary rotary, float[] inverseFrequencies, Weights weights,
            boolean finalSum) {
        if (inverseFrequencies.length != config.headDim() / 2) {
            throw new IllegalArgumentException("expected head_dim / 2 = " + config.headDim() / 2 + " inverse frequencies but found "
                    + inverseFrequencies.length);
        }
        new GenaiGraph(graph, config, rotary, inverseFrequencies, weights, finalSum).build();
    }

    /** A node named {@code scope/op} (then {@code scope/op_1}, ...) with outputs {@code <name>/output_<i>}. */
    private NodeBuilder node(String scope, String op, int outputs) {
        String key = scope + "/" + op;
        int n = counts.merge(key, 1, Integer::sum) - 1;
        String name = key + (n == 0 ? "" : "_" + n);
        String[] names = new String[outputs];
        for (int i = 0; i < outputs; i++) {
            names[i] = name + "/output_" + i;
        }
        NodeBuilder builder = g.op(op).name(name).outputs(names);
        return op.equals("GroupQueryAttention") || op.equals("RotaryEmbedding") || op.startsWith("Skip")
                ? builder.domain(GraphBuilder.MS_DOMAIN) : builder;
    }

    private Value op(String scope, String op, Value... inputs) {
        return node(scope, op, 1).inputs(inputs).value();
    }

    private Value constant(String scope, Tensor t) {
        return node(scope, "Constant", 1).attr("value", t).value();
    }

    private Value cast(String scope, Value v, DataType to) {
        return node(scope, "Cast", 1).inputs(v).attr("to", (long) to.code()).value();
    }

    private ValueType kvType(String lengthDim) {
        return ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch_size"), Dim.of(c.kvHeads()), Dim.param(lengthDim), Dim.of(c.headDim()));
    }

    private void build() {
        Dim batch = Dim.param("batch_size");
        Value inputIds = g.addInput("input_ids", ValueType.Tensor.of(DataType.INT64, batch, Dim.param("sequence_length")));
        Value mask = g.addInput("attention_mask", ValueType.Tensor.of(DataType.INT64, batch, Dim.param("total_sequence_length")));
        Value[] past = new Value[2 * c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            past[2 * l] = g.addInput("past_key_values." + l + ".key", kvType("past_sequence_length"));
            past[2 * l + 1] = g.addInput("past_key_values." + l + ".value", kvType("past_sequence_length"));
        }
        String m = "/model/attn_mask_reformat/attn_mask_subgraph";
        Value sum = node(m, "ReduceSum", 1).inputs(mask, constant(m, Tensor.vector(1))).attr("keepdims", 0L).value();
        Value seqlensK = cast(m, op(m, "Sub", sum, constant(m, Tensor.scalar(1L))), DataType.INT32);
        Value width = node(m, "Gather", 1).inputs(op(m, "Shape", mask), constant(m, Tensor.scalar(1L))).attr("axis", 0L).value();
        Value totalLength = cast(m, width, DataType.INT32);
        Value positions = rotary == Rotary.ROTARY_EMBEDDING ? positions(inputIds, mask) : null;
        Value cos = g.addInitializer("cos_cache", cache(true));
        Value sin = g.addInitializer("sin_cache", cache(false));

        Value x = op("/model/embed_tokens", "Gather", w.embedding(), inputIds);
        if (c.gemma()) {
            // GemmaModel: hidden_states * normalizer, normalizer = sqrt(hidden_size)
            x = op("/model/embed_tokens", "Mul", x, constant("/model/embed_tokens", Tensor.scalar((float) Math.sqrt(c.hiddenSize()))));
        }
        Value residual = x;
        Value skip = null;
        for (int l = 0; l < c.layers(); l++) {
            String s = "/model/layers." + l;
            Node in = norm(s + "/input_layernorm", residual, skip, l, Norm.INPUT, true);
            residual = in.outputs().size() > 3 ? in.output(3) : residual;
            Value attn = attention(l, in.output(0), seqlensK, totalLength, positions, cos, sin, past[2 * l], past[2 * l + 1]);
            Node post = norm(s + "/post_attention_layernorm", residual, attn, l, Norm.POST_ATTENTION, true);
            residual = post.output(3);
            String mlp = s + "/mlp";
            Value h = post.output(0);
            Value gate = w.linear(mlp + "/gate_proj", h, l, Projection.GATE_PROJ);
            Value act = c.gemma()
                    ? node(mlp + "/act_fn", "Gelu", 1).inputs(gate).attr("approximate", "tanh").value()
                    : op(mlp + "/act_fn", "Mul", gate, op(mlp + "/act_fn", "Sigmoid", gate));
            Value up = w.linear(mlp + "/up_proj", h, l, Projection.UP_PROJ);
            Value product = op(mlp, "Mul", act, up);
            skip = w.linear(mlp + "/down_proj", product, l, Projection.DOWN_PROJ);
        }
        Node last = norm("/model/layers." + c.layers() + "/final_norm_layernorm", residual, skip, c.layers(), Norm.FINAL, finalSum);
        Value logits = w.linear("/lm_head", last.output(0), c.layers(), Projection.LM_HEAD);
        logits.rename("logits");
        logits.setType(ValueType.Tensor.of(DataType.FLOAT, batch, Dim.param("sequence_length"), Dim.of(c.vocabSize())));
        g.addOutput(logits);
        presents.forEach(g::addOutput);
    }

    /** position_ids as Hugging Face computes them for a padded batch: cumsum(mask) - 1, the last seq columns, pads 0. */
    private Value positions(Value inputIds, Value mask) {
        String s = "/model/pos_ids_reformat";
        Value cumsum = op(s, "CumSum", mask, constant(s, Tensor.scalar(1L)));
        Value all = op(s, "Max", op(s, "Sub", cumsum, constant(s, Tensor.scalar(1L))), constant(s, Tensor.scalar(0L)));
        Value seq = node(s, "Gather", 1).inputs(op(s, "Shape", inputIds), constant(s, Tensor.vector(1))).attr("axis", 0L).value();
        return op(s, "Slice", all, op(s, "Neg", seq), constant(s, Tensor.vector(Long.MAX_VALUE)), constant(s, Tensor.vector(1)));
    }

    /**
     * cos or sin of position p times inverse frequency i, [context, head_dim / 2]; the angle is the float32 product
     * the standard-op graph computes.
     */
    private Tensor cache(boolean cos) {
        int half = c.headDim() / 2;
        int positions = c.contextLength();
        float[] values = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                float angle = p * inverseFrequencies[i];
                values[p * half + i] = (float) (cos ? StrictMath.cos(angle) : StrictMath.sin(angle));
            }
        }
        return Tensor.ofFloats(new long[] {positions, half}, values);
    }

    /**
     * A norm of {@code residual}: SimplifiedLayerNormalization where nothing is to be added, else
     * SkipSimplifiedLayerNormalization of residual + skip, with output 3 (the sum) when {@code withSum}.
     */
    private Node norm(String scope, Value residual, Value skip, int layer, Norm which, boolean withSum) {
        if (skip == null) {
            return node(scope, "SimplifiedLayerNormalization", 1).inputs(residual, w.norm(layer, which)).attr("axis", -1L)
                    .attr("epsilon", c.rmsNormEps()).attr("stash_type", 1L).append();
        }
        return node(scope, "SkipSimplifiedLayerNormalization", withSum ? 4 : 1).inputs(residual, skip, w.norm(layer, which))
                .attr("epsilon", c.rmsNormEps()).append();
    }

    private Value attention(int l, Value h, Value seqlensK, Value totalLength, Value positions, Value cos, Value sin,
            Value pastKey, Value pastValue) {
        String s = "/model/layers." + l + "/attn";
        Value qkv = w.qkv(s + "/qkv_proj", h, l);
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        NodeBuilder gqa = node(s, "GroupQueryAttention", 3).attr("num_heads", (long) c.heads())
                .attr("kv_num_heads", (long) c.kvHeads()).attr("scale", c.attentionScale())
                .attr("local_window_size", -1L).attr("rotary_interleaved", 0L);
        if (rotary == Rotary.FUSED) {
            gqa.inputs(qkv, null, null, pastKey, pastValue, seqlensK, totalLength, cos, sin).attr("do_rotary", 1L);
        } else {
            Node split = node(s, "Split", 3).inputs(qkv, constant(s, Tensor.vector(q, kv, kv))).attr("axis", -1L).append();
            Value rq = node(s + "/q_rotary", "RotaryEmbedding", 1).inputs(split.output(0), positions, cos, sin)
                    .attr("interleaved", 0L).attr("num_heads", (long) c.heads()).value();
            Value rk = node(s + "/k_rotary", "RotaryEmbedding", 1).inputs(split.output(1), positions, cos, sin)
                    .attr("interleaved", 0L).attr("num_heads", (long) c.kvHeads()).value();
            gqa.inputs(rq, rk, split.output(2), pastKey, pastValue, seqlensK, totalLength).attr("do_rotary", 0L);
        }
        Node attention = gqa.append();
        attention.output(1).rename("present." + l + ".key");
        attention.output(2).rename("present." + l + ".value");
        for (int i = 1; i <= 2; i++) {
            attention.output(i).setType(kvType("total_sequence_length"));
            presents.add(attention.output(i));
        }
        return w.linear(s + "/o_proj", attention.output(0), l, Projection.O_PROJ);
    }
}
