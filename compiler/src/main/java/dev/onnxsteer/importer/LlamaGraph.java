package dev.onnxsteer.importer;

import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.importer.Projections.Rows;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;

/**
 * Builds the ONNX graph of a llama-family GGUF the way torch.onnx / Optimum export Hugging Face's
 * {@code LlamaForCausalLM} (and its Qwen2, Phi3, Gemma, Gemma2 siblings) with a KV cache: the same inputs,
 * outputs, node names ({@code /model/layers.N/self_attn/q_proj/MatMul}, {@code /model/layers.N/Add}, ...),
 * initializer names ({@code model.layers.N.self_attn.q_proj.weight}, stored transposed as {@code [in, out]}
 * for MatMul), RMSNorm decomposed into Pow/ReduceMean/Add/Sqrt/Div/Mul, and opset 17 standard operators
 * only (plus MatMulNBits where the weight format keeps blocks). Weights come from {@link Projections}, the
 * mask and rotary tables from {@link Positions}.
 *
 * <p>gemma2 (see {@link Gemma2Settings}) differs in each layer: the attention and MLP outputs are normed
 * again before they join the residual ({@code post_attention_layernorm}, {@code post_feedforward_layernorm};
 * the MLP's input norm is {@code pre_feedforward_layernorm}), attention scores are soft-capped before the
 * mask, even layers attend within a sliding window, and the logits are soft-capped at the end.
 */
final class LlamaGraph {
    static final long OPSET = 17;

    private final GgufFile gguf;
    private final LlamaConfig c;
    private final Gemma2Settings gemma2;
    private final GraphBuilder b = new GraphBuilder();
    private final Graph g = b.graph();
    private final Projections weights;

    /**
     * The graph and what became of its projections.
     *
     * @param quantisedProjections linear projections stored as MatMulNBits
     * @param requantised how many of those were requantised rather than copied bit for bit
     * @param worstRequantisationError the largest relative RMS error ||requantised - dequantised|| / ||dequantised||
     *     over the requantised projections (0 when none)
     */
    record Built(Model model, int quantisedProjections, int requantised, double worstRequantisationError) {}

    private LlamaGraph(GgufFile gguf, LlamaConfig config, WeightFormat format, boolean int8Activations, WeightSink sink) {
        this.gguf = gguf;
        this.c = config;
        this.gemma2 = config.architecture().equals(LlamaConfig.GEMMA2) ? Gemma2Settings.from(gguf.metadata()) : null;
        this.weights = new Projections(gguf, format, int8Activations, sink, b);
    }

    static Model build(GgufFile gguf, LlamaConfig config) {
        return build(gguf, config, WeightFormat.F32, false, WeightSink.inline()).model();
    }

    /**
     * Builds the graph, handing each weight tensor to {@code sink} as soon as it is made; {@code int8Activations}: see
     * {@link GgufImporter.Options#int8Activations}.
     */
    static Built build(GgufFile gguf, LlamaConfig config, WeightFormat format, boolean int8Activations, WeightSink sink) {
        LlamaGraph graph = new LlamaGraph(gguf, config, format, int8Activations, sink);
        Model model = graph.build();
        Projections w = graph.weights;
        return new Built(model, w.quantisedProjections(), w.requantised(), w.worstRequantisationError());
    }

    private Model build() {
        Dim batch = Dim.param("batch_size");
        Dim seq = Dim.param("sequence_length");
        Dim past = Dim.param("past_sequence_length");
        Dim total = Dim.param("total_sequence_length");
        Value inputIds = g.addInput("input_ids", ValueType.Tensor.of(DataType.INT64, batch, seq));
        Value attentionMask = g.addInput("attention_mask", ValueType.Tensor.of(DataType.INT64, batch, total));
        Value positionIds = g.addInput("position_ids", ValueType.Tensor.of(DataType.INT64, batch, seq));
        Value[] pastKeys = new Value[c.layers()];
        Value[] pastValues = new Value[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            pastKeys[l] = g.addInput("past_key_values." + l + ".key",
                    ValueType.Tensor.of(DataType.FLOAT, batch, Dim.of(c.kvHeads()), past, Dim.of(c.headDim())));
            pastValues[l] = g.addInput("past_key_values." + l + ".value",
                    ValueType.Tensor.of(DataType.FLOAT, batch, Dim.of(c.kvHeads()), past, Dim.of(c.headDim())));
        }

        Value embedWeight = weights.matrix("model.embed_tokens.weight", "token_embd.weight", c.vocabSize(), c.hiddenSize());
        Value x = b.op("Gather", "/model/embed_tokens/Gather", embedWeight, inputIds);
        if (c.gemma()) {
            // GemmaModel: hidden_states * normalizer, normalizer = sqrt(hidden_size)
            x = b.op("Mul", "/model/Mul", x, b.constFloat("const.embed_scale", (float) Math.sqrt(c.hiddenSize())));
        }

        Positions positions = new Positions(b);
        Value mask = positions.mask(inputIds, attentionMask, 0);
        Value slidingMask = gemma2 == null ? null : positions.mask(inputIds, attentionMask, gemma2.slidingWindow());
        Value[] cosSin = positions.rotary(gguf, c, positionIds);

        Value[] presents = new Value[2 * c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            String p = "/model/layers." + l;
            String w = "model.layers." + l + ".";
            String t = "blk." + l + ".";
            Value h = rmsNorm(p + "/input_layernorm", x, norm(w + "input_layernorm.weight", t + "attn_norm.weight"));
            boolean slides = gemma2 != null && gemma2.slides(l);
            Value[] attention = attention(l, h, slides ? slidingMask : mask, cosSin, pastKeys[l], pastValues[l]);
            presents[2 * l] = attention[1];
            presents[2 * l + 1] = attention[2];
            if (gemma2 == null) {
                x = b.op("Add", p + "/Add", x, attention[0]);
                h = rmsNorm(p + "/post_attention_layernorm", x, norm(w + "post_attention_layernorm.weight", t + "ffn_norm.weight"));
                x = b.op("Add", p + "/Add_1", x, mlp(l, h));
            } else {
                Value a = rmsNorm(p + "/post_attention_layernorm", attention[0],
                        norm(w + "post_attention_layernorm.weight", t + "post_attention_norm.weight"));
                x = b.op("Add", p + "/Add", x, a);
                h = rmsNorm(p + "/pre_feedforward_layernorm", x, norm(w + "pre_feedforward_layernorm.weight", t + "ffn_norm.weight"));
                Value m = rmsNorm(p + "/post_feedforward_layernorm", mlp(l, h),
                        norm(w + "post_feedforward_layernorm.weight", t + "post_ffw_norm.weight"));
                x = b.op("Add", p + "/Add_1", x, m);
            }
        }
        Value normed = rmsNorm("/model/norm", x, norm("model.norm.weight", "output_norm.weight"));
        String head = c.tiedEmbeddings() ? "token_embd.weight" : "output.weight";
        Value logits;
        if (gemma2 == null) {
            logits = weights.linear("/lm_head", normed, "lm_head.weight", Rows.all(head, c.vocabSize()), c.hiddenSize(), 0, "logits");
        } else {
            logits = weights.linear("/lm_head", normed, "lm_head.weight", Rows.all(head, c.vocabSize()), c.hiddenSize(), 0, null);
            logits = softcap("/final_logit_softcapping", logits, gemma2.finalSoftcap(), "logits");
        }
        logits.setType(ValueType.Tensor.of(DataType.FLOAT, batch, seq, Dim.of(c.vocabSize())));
        g.addOutput(logits);
        for (Value present : presents) {
            present.setType(ValueType.Tensor.of(DataType.FLOAT, batch, Dim.of(c.kvHeads()), total, Dim.of(c.headDim())));
            g.addOutput(present);
        }

        Model model = new Model(g);
        model.opsets().put("", OPSET);
        if (weights.quantisedProjections() > 0) {
            model.opsets().put(GraphBuilder.MS_DOMAIN, 1L);
        }
        model.setIrVersion(8);
        model.setProducer("onnx-steer", OnnxSteer.VERSION);
        model.setDocString(GgufImporter.hfClass(c.architecture()) + " imported from " + gguf.path().getFileName());
        return model;
    }

    /** Returns {attention output after o_proj, present key, present value}. */
    private Value[] attention(int l, Value h, Value mask, Value[] cosSin, Value pastKey, Value pastValue) {
        String p = "/model/layers." + l + "/self_attn";
        String w = "model.layers." + l + ".self_attn.";
        int qOut = c.heads() * c.headDim();
        int kvOut = c.kvHeads() * c.headDim();
        int qRope = c.rotaryRowsPermuted() ? c.heads() : 0;
        int kRope = c.rotaryRowsPermuted() ? c.kvHeads() : 0;
        String t = "blk." + l + ".";
        int hidden = c.hiddenSize();
        Value q;
        Value k;
        Value v;
        if (gguf.findTensor(t + "attn_qkv.weight").isPresent()) {
            // phi3: one [q | k | v] tensor; split into the three projections an unfused export has
            Rows qkv = new Rows(t + "attn_qkv.weight", qOut + 2 * kvOut);
            q = weights.linear(p + "/q_proj", h, w + "q_proj.weight", qkv.slice(0, qOut), hidden, qRope, null);
            k = weights.linear(p + "/k_proj", h, w + "k_proj.weight", qkv.slice(qOut, kvOut), hidden, kRope, null);
            v = weights.linear(p + "/v_proj", h, w + "v_proj.weight", qkv.slice(qOut + kvOut, kvOut), hidden, 0, null);
        } else {
            q = weights.linear(p + "/q_proj", h, w + "q_proj.weight", Rows.all(t + "attn_q.weight", qOut), hidden, qRope, null);
            k = weights.linear(p + "/k_proj", h, w + "k_proj.weight", Rows.all(t + "attn_k.weight", kvOut), hidden, kRope, null);
            v = weights.linear(p + "/v_proj", h, w + "v_proj.weight", Rows.all(t + "attn_v.weight", kvOut), hidden, 0, null);
        }
        q = weights.bias(p + "/q_proj", q, w + "q_proj.bias", t + "attn_q.bias", qOut, qRope);
        k = weights.bias(p + "/k_proj", k, w + "k_proj.bias", t + "attn_k.bias", kvOut, kRope);
        v = weights.bias(p + "/v_proj", v, w + "v_proj.bias", t + "attn_v.bias", kvOut, 0);
        q = heads(p, "", q, c.heads());
        k = heads(p, "_1", k, c.kvHeads());
        v = heads(p, "_2", v, c.kvHeads());
        q = rotate(p, "", q, cosSin);
        k = rotate(p, "_1", k, cosSin);
        Value presentKey = g.op("Concat").name(p + "/Concat_2").inputs(pastKey, k).attr("axis", 2L)
                .outputs("present." + l + ".key").value();
        Value presentValue = g.op("Concat").name(p + "/Concat_3").inputs(pastValue, v).attr("axis", 2L)
                .outputs("present." + l + ".value").value();
        Value keys = repeatKv(p, "", presentKey);
        Value values = repeatKv(p, "_1", presentValue);
        Value keysT = g.op("Transpose").name(p + "/Transpose_3").inputs(keys).attr("perm", new long[] {0, 1, 3, 2}).value();
        Value scores = b.op("MatMul", p + "/MatMul", q, keysT);
        scores = b.op("Mul", p + "/Mul_4", scores, b.constFloat("const.attn_scale", c.attentionScale()));
        if (gemma2 != null) {
            scores = softcap(p + "/attn_logit_softcapping", scores, gemma2.attentionSoftcap(), null);
        }
        scores = b.op("Add", p + "/Add_2", scores, mask);
        Value probs = g.op("Softmax").name(p + "/Softmax").inputs(scores).attr("axis", -1L).value();
        Value out = b.op("MatMul", p + "/MatMul_1", probs, values);
        out = g.op("Transpose").name(p + "/Transpose_4").inputs(out).attr("perm", new long[] {0, 2, 1, 3}).value();
        out = b.op("Reshape", p + "/Reshape_3", out, b.constLongs("const.shape.attn_out", 0, 0, qOut));
        Value o = weights.linear(p + "/o_proj", out, w + "o_proj.weight", Rows.all(t + "attn_output.weight", hidden), qOut, 0, null);
        return new Value[] {o, presentKey, presentValue};
    }

    /** [batch, seq, n*D] to [batch, n, seq, D]. */
    private Value heads(String p, String suffix, Value x, int n) {
        Value r = b.op("Reshape", p + "/Reshape" + suffix, x, b.constLongs("const.shape.heads." + n, 0, 0, n, c.headDim()));
        return g.op("Transpose").name(p + "/Transpose" + suffix).inputs(r).attr("perm", new long[] {0, 2, 1, 3}).value();
    }

    /** HF apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1). */
    private Value rotate(String p, String suffix, Value x, Value[] cosSin) {
        int half = c.headDim() / 2;
        Value axis = b.constLongs("const.axes.3", 3);
        Value x1 = g.op("Slice").name(p + "/Slice" + suffix).inputs(x, b.constLongs("const.0", 0), b.constLongs("const.half", half), axis).value();
        Value x2 = g.op("Slice").name(p + "/Slice_1" + suffix).inputs(x, b.constLongs("const.half", half),
                b.constLongs("const.head_dim", c.headDim()), axis).value();
        Value rotated = g.op("Concat").name(p + "/Concat" + suffix).inputs(b.op("Neg", p + "/Neg" + suffix, x2), x1).attr("axis", -1L).value();
        Value first = b.op("Mul", p + "/Mul" + suffix, x, cosSin[0]);
        Value second = b.op("Mul", p + "/Mul_1" + suffix, rotated, cosSin[1]);
        return b.op("Add", p + "/Add" + suffix, first, second);
    }

    /** HF repeat_kv: [batch, kv, T, D] to [batch, heads, T, D], each kv head repeated heads/kv times in place. */
    private Value repeatKv(String p, String suffix, Value x) {
        int rep = c.heads() / c.kvHeads();
        if (rep == 1) {
            return x;
        }
        Value u = g.op("Unsqueeze").name(p + "/Unsqueeze" + suffix).inputs(x, b.constLongs("const.axes.2", 2)).value();
        Value e = b.op("Expand", p + "/Expand" + suffix, u, b.constLongs("const.shape.repeat_kv", 1, 1, rep, 1, 1));
        return b.op("Reshape", p + "/Reshape_4" + suffix, e, b.constLongs("const.shape.kv_heads", 0, c.heads(), -1, c.headDim()));
    }

    private Value mlp(int l, Value h) {
        String p = "/model/layers." + l + "/mlp";
        String w = "model.layers." + l + ".mlp.";
        String t = "blk." + l + ".";
        int ffn = c.intermediateSize();
        Rows gateRows;
        Rows upRows;
        if (gguf.findTensor(t + "ffn_gate.weight").isPresent()) {
            gateRows = Rows.all(t + "ffn_gate.weight", ffn);
            upRows = Rows.all(t + "ffn_up.weight", ffn);
        } else {
            // phi3: ffn_up holds [gate | up] (llama.cpp's fused SwiGLU: silu of the first half times the second)
            Rows fused = new Rows(t + "ffn_up.weight", 2 * ffn);
            gateRows = fused.slice(0, ffn);
            upRows = fused.slice(ffn, ffn);
        }
        Value gate = weights.linear(p + "/gate_proj", h, w + "gate_proj.weight", gateRows, c.hiddenSize(), 0, null);
        Value act = c.gemma() ? geluTanh(p + "/act_fn", gate) : b.op("Mul", p + "/act_fn/Mul", gate, b.op("Sigmoid", p + "/act_fn/Sigmoid", gate));
        Value up = weights.linear(p + "/up_proj", h, w + "up_proj.weight", upRows, c.hiddenSize(), 0, null);
        Value product = b.op("Mul", p + "/Mul", act, up);
        return weights.linear(p + "/down_proj", product, w + "down_proj.weight", Rows.all(t + "ffn_down.weight", c.hiddenSize()),
                ffn, 0, null);
    }

    /** GELU, tanh approximation (gelu_pytorch_tanh, ggml_gelu): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    private Value geluTanh(String p, Value x) {
        Value cube = b.op("Mul", p + "/Mul", b.op("Mul", p + "/Mul_1", x, x), x);
        Value inner = b.op("Add", p + "/Add", x, b.op("Mul", p + "/Mul_2", cube, b.constFloat("const.gelu.0_044715", 0.044715f)));
        Value t = b.op("Tanh", p + "/Tanh", b.op("Mul", p + "/Mul_3", inner, b.constFloat("const.gelu.sqrt_2_over_pi", (float) Math.sqrt(2 / Math.PI))));
        Value onePlus = b.op("Add", p + "/Add_1", t, b.constFloat("const.float.1", 1f));
        return b.op("Mul", p + "/Mul_5", b.op("Mul", p + "/Mul_4", x, b.constFloat("const.float.0_5", 0.5f)), onePlus);
    }

    /** Gemma2's soft-capping, {@code cap * tanh(x / cap)}; {@code output} names the result (null: the graph picks). */
    private Value softcap(String p, Value x, float cap, String output) {
        Value capValue = b.constFloat("const.softcap." + cap, cap);
        Value t = b.op("Tanh", p + "/Tanh", b.op("Div", p + "/Div", x, capValue));
        var node = g.op("Mul").name(p + "/Mul").inputs(t, capValue);
        return output == null ? node.value() : node.outputs(output).value();
    }

    /** LlamaRMSNorm as torch.onnx exports it: weight * (x / sqrt(mean(x^2) + eps)). */
    private Value rmsNorm(String p, Value x, Value weight) {
        Value squared = b.op("Pow", p + "/Pow", x, b.constFloat("const.float.2", 2f));
        Value mean = g.op("ReduceMean").name(p + "/ReduceMean").inputs(squared).attr("axes", new long[] {-1})
                .attr("keepdims", 1L).value();
        Value plusEps = b.op("Add", p + "/Add", mean, b.constFloat("const.rms_norm_eps", c.rmsNormEps()));
        Value root = b.op("Sqrt", p + "/Sqrt", plusEps);
        Value inverse = b.op("Div", p + "/Div", b.constFloat("const.float.1", 1f), root);
        Value normalised = b.op("Mul", p + "/Mul", x, inverse);
        return b.op("Mul", p + "/Mul_1", weight, normalised);
    }

    private Value norm(String name, String tensor) {
        return weights.vector(name, tensor, c.hiddenSize());
    }
}
