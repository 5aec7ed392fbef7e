package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.gguf.QuantisationError;
import dev.onnxsteer.quant.BlockQuantised;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.Arrays;

/**
 * Builds the ONNX graph of a llama GGUF the way torch.onnx / Optimum export Hugging Face's
 * {@code LlamaForCausalLM} with a KV cache: the same inputs, outputs, node names
 * ({@code /model/layers.N/self_attn/q_proj/MatMul}, {@code /model/layers.N/Add}, ...), initializer names
 * ({@code model.layers.N.self_attn.q_proj.weight}, stored transposed as {@code [in, out]} for MatMul),
 * RMSNorm decomposed into Pow/ReduceMean/Add/Sqrt/Div/Mul, and opset 17 standard operators only.
 *
 * <h2>Rotary embedding and the GGUF q/k layout</h2>
 * llama GGUF files keep q and k weights in the original Meta layout, where rotary embedding turns
 * ADJACENT pairs {@code (x[2j], x[2j+1])} of each head (ggml's rope type NORM); llama.cpp's converter
 * permutes Hugging Face weights into that layout ({@code permute} in {@code convert_hf_to_gguf.py}: row
 * {@code (head, half, j)} of HF becomes row {@code (head, j, half)}). The importer undoes that permutation
 * (HF row {@code h*D + s*D/2 + j} = GGUF row {@code h*D + 2j + s}, per head of k with the kv head count) and
 * then applies HF's half-split rotary embedding ({@code x*cos + rotate_half(x)*sin}); the two are the same
 * function, and the result has exactly the weights an Optimum export of the HF model would have.
 */
final class LlamaGraph {
    static final long OPSET = 17;
    static final String MS_DOMAIN = "com.microsoft";
    private static final float MASK_MIN = -3.4028234663852886e38f; // torch.finfo(float32).min, as HF masks

    private final GgufFile gguf;
    private final LlamaConfig c;
    private final WeightFormat format;
    private final WeightSink sink;
    private final Graph g = new Graph("main_graph");
    private int quantisedProjections;
    private int requantised;
    private double worstRequantisationError;

    /**
     * The graph and what became of its projections.
     *
     * @param quantisedProjections linear projections stored as MatMulNBits
     * @param requantised how many of those were requantised rather than copied bit for bit
     * @param worstRequantisationError the largest relative RMS error ||requantised - dequantised|| / ||dequantised||
     *     over the requantised projections (0 when none)
     */
    record Built(Model model, int quantisedProjections, int requantised, double worstRequantisationError) {}

    private LlamaGraph(GgufFile gguf, LlamaConfig config, WeightFormat format, WeightSink sink) {
        this.gguf = gguf;
        this.c = config;
        this.format = format;
        this.sink = sink;
    }

    static Model build(GgufFile gguf, LlamaConfig config) {
        return build(gguf, config, WeightFormat.F32, WeightSink.inline()).model();
    }

    /** Builds the graph, handing each weight tensor to {@code sink} as soon as it is made. */
    static Built build(GgufFile gguf, LlamaConfig config, WeightFormat format, WeightSink sink) {
        LlamaGraph graph = new LlamaGraph(gguf, config, format, sink);
        Model model = graph.build();
        return new Built(model, graph.quantisedProjections, graph.requantised, graph.worstRequantisationError);
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

        Value embedWeight = g.addInitializer("model.embed_tokens.weight",
                sink.floats(new long[] {c.vocabSize(), c.hiddenSize()}, floats("token_embd.weight", c.vocabSize(), c.hiddenSize())));
        Value x = op("Gather", "/model/embed_tokens/Gather", embedWeight, inputIds);
        if (c.gemma()) {
            // GemmaModel: hidden_states * normalizer, normalizer = sqrt(hidden_size)
            x = op("Mul", "/model/Mul", x, constFloat("const.embed_scale", (float) Math.sqrt(c.hiddenSize())));
        }

        Value mask = causalMask(inputIds, attentionMask);
        Value[] cosSin = rotary(positionIds);

        Value[] presents = new Value[2 * c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            String p = "/model/layers." + l;
            String w = "model.layers." + l + ".";
            Value h = rmsNorm(p + "/input_layernorm", x, vector(w + "input_layernorm.weight", "blk." + l + ".attn_norm.weight"));
            Value[] attention = attention(l, h, mask, cosSin, pastKeys[l], pastValues[l]);
            presents[2 * l] = attention[1];
            presents[2 * l + 1] = attention[2];
            x = op("Add", p + "/Add", x, attention[0]);
            h = rmsNorm(p + "/post_attention_layernorm", x, vector(w + "post_attention_layernorm.weight", "blk." + l + ".ffn_norm.weight"));
            x = op("Add", p + "/Add_1", x, mlp(l, h));
        }
        Value normed = rmsNorm("/model/norm", x, vector("model.norm.weight", "output_norm.weight"));
        String head = c.tiedEmbeddings() ? "token_embd.weight" : "output.weight";
        Value logits = linear("/lm_head", normed, "lm_head.weight", Rows.all(head, c.vocabSize()), c.hiddenSize(), 0, "logits");
        logits.setType(ValueType.Tensor.of(DataType.FLOAT, batch, seq, Dim.of(c.vocabSize())));
        g.addOutput(logits);
        for (Value present : presents) {
            present.setType(ValueType.Tensor.of(DataType.FLOAT, batch, Dim.of(c.kvHeads()), total, Dim.of(c.headDim())));
            g.addOutput(present);
        }

        Model model = new Model(g);
        model.opsets().put("", OPSET);
        if (quantisedProjections > 0) {
            model.opsets().put(MS_DOMAIN, 1L);
        }
        model.setIrVersion(8);
        model.setProducer("onnx-steer", OnnxSteer.VERSION);
        model.setDocString(GgufImporter.hfClass(c.architecture()) + " imported from " + gguf.path().getFileName());
        return model;
    }

    /** [batch, 1, seq, total] float: 0 where key j may be seen by query i (j <= past + i and not padding), else float min. */
    private Value causalMask(Value inputIds, Value attentionMask) {
        String p = "/model/attn_mask";
        Value zero = g.addInitializer("const.int64.0", Tensor.scalar(0L));
        Value one = g.addInitializer("const.int64.1", Tensor.scalar(1L));
        Value seqLen = op("Gather", p + "/Gather", op("Shape", p + "/Shape", inputIds), one);
        Value totalLen = op("Gather", p + "/Gather_1", op("Shape", p + "/Shape_1", attentionMask), one);
        Value pastLen = op("Sub", p + "/Sub", totalLen, seqLen);
        Value queryPositions = op("Range", p + "/Range", pastLen, totalLen, one);
        Value keyPositions = op("Range", p + "/Range_1", zero, totalLen, one);
        Value column = g.op("Unsqueeze").name(p + "/Unsqueeze").inputs(queryPositions, constLongs("const.axes.1", 1)).value();
        Value row = g.op("Unsqueeze").name(p + "/Unsqueeze_1").inputs(keyPositions, constLongs("const.axes.0", 0)).value();
        Value causal = op("LessOrEqual", p + "/LessOrEqual", row, column);
        Value notPadding = g.op("Cast").name(p + "/Cast").inputs(attentionMask).attr("to", (long) DataType.BOOL.code()).value();
        Value notPadding4 = g.op("Unsqueeze").name(p + "/Unsqueeze_2").inputs(notPadding, constLongs("const.axes.1_2", 1, 2)).value();
        Value allowed = op("And", p + "/And", causal, notPadding4);
        return op("Where", p + "/Where", allowed, g.addInitializer("const.float.0", Tensor.scalar(0f)),
                g.addInitializer("const.float.min", Tensor.scalar(MASK_MIN)));
    }

    /** cos and sin of HF's rotary embedding, [batch, 1, seq, head_dim] each. */
    private Value[] rotary(Value positionIds) {
        String p = "/model/rotary_emb";
        int half = c.headDim() / 2;
        float[] invFreq = new float[half];
        float[] factors = gguf.findTensor("rope_freqs.weight").map(gguf::readFloats).orElse(null);
        if (factors != null && factors.length != half) {
            throw new BadModelException("tensor rope_freqs.weight in " + gguf.path() + " has " + factors.length
                    + " values; expected head_dim / 2 = " + half);
        }
        for (int i = 0; i < half; i++) {
            // HF: 1.0 / (base ** (arange(0, dim, 2).float() / dim)); llama.cpp divides by rope_freqs and the linear factor
            double f = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / c.headDim());
            f /= c.ropeLinearFactor();
            if (factors != null) {
                f /= factors[i];
            }
            invFreq[i] = (float) f;
        }
        Value invFreqValue = g.addInitializer("model.rotary_emb.inv_freq", Tensor.ofFloats(new long[] {half}, invFreq));
        Value positions = g.op("Cast").name(p + "/Cast").inputs(positionIds).attr("to", (long) DataType.FLOAT.code()).value();
        Value positions3 = g.op("Unsqueeze").name(p + "/Unsqueeze").inputs(positions, constLongs("const.axes.2", 2)).value();
        Value freqs = op("Mul", p + "/Mul", positions3, invFreqValue);
        Value emb = g.op("Concat").name(p + "/Concat").inputs(freqs, freqs).attr("axis", -1L).value();
        Value axes1 = constLongs("const.axes.1", 1);
        Value cos = g.op("Unsqueeze").name(p + "/Unsqueeze_1").inputs(op("Cos", p + "/Cos", emb), axes1).value();
        Value sin = g.op("Unsqueeze").name(p + "/Unsqueeze_2").inputs(op("Sin", p + "/Sin", emb), axes1).value();
        return new Value[] {cos, sin};
    }

    /** Returns {attention output after o_proj, present key, present value}. */
    private Value[] attention(int l, Value h, Value mask, Value[] cosSin, Value pastKey, Value pastValue) {
        String p = "/model/layers." + l + "/self_attn";
        String w = "model.layers." + l + ".self_attn.";
        int qOut = c.heads() * c.headDim();
        int kvOut = c.kvHeads() * c.headDim();
        int qRope = c.rotaryRowsPermuted() ? c.heads() : 0;
        int kRope = c.rotaryRowsPermuted() ? c.kvHeads() : 0;
        String b = "blk." + l + ".";
        Value q;
        Value k;
        Value v;
        if (gguf.findTensor(b + "attn_qkv.weight").isPresent()) {
            // phi3: one [q | k | v] tensor; split into the three projections an unfused export has
            Rows qkv = new Rows(b + "attn_qkv.weight", qOut + 2 * kvOut);
            q = linear(p + "/q_proj", h, w + "q_proj.weight", qkv.slice(0, qOut), c.hiddenSize(), qRope, null);
            k = linear(p + "/k_proj", h, w + "k_proj.weight", qkv.slice(qOut, kvOut), c.hiddenSize(), kRope, null);
            v = linear(p + "/v_proj", h, w + "v_proj.weight", qkv.slice(qOut + kvOut, kvOut), c.hiddenSize(), 0, null);
        } else {
            q = linear(p + "/q_proj", h, w + "q_proj.weight", Rows.all(b + "attn_q.weight", qOut), c.hiddenSize(), qRope, null);
            k = linear(p + "/k_proj", h, w + "k_proj.weight", Rows.all(b + "attn_k.weight", kvOut), c.hiddenSize(), kRope, null);
            v = linear(p + "/v_proj", h, w + "v_proj.weight", Rows.all(b + "attn_v.weight", kvOut), c.hiddenSize(), 0, null);
        }
        q = bias(p + "/q_proj", q, w + "q_proj.bias", b + "attn_q.bias", qOut, qRope);
        k = bias(p + "/k_proj", k, w + "k_proj.bias", b + "attn_k.bias", kvOut, kRope);
        v = bias(p + "/v_proj", v, w + "v_proj.bias", b + "attn_v.bias", kvOut, 0);
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
        Value scores = op("MatMul", p + "/MatMul", q, keysT);
        scores = op("Mul", p + "/Mul_4", scores, constFloat("const.attn_scale", (float) (1.0 / Math.sqrt(c.headDim()))));
        scores = op("Add", p + "/Add_2", scores, mask);
        Value probs = g.op("Softmax").name(p + "/Softmax").inputs(scores).attr("axis", -1L).value();
        Value out = op("MatMul", p + "/MatMul_1", probs, values);
        out = g.op("Transpose").name(p + "/Transpose_4").inputs(out).attr("perm", new long[] {0, 2, 1, 3}).value();
        out = op("Reshape", p + "/Reshape_3", out, constLongs("const.shape.attn_out", 0, 0, qOut));
        Value o = linear(p + "/o_proj", out, w + "o_proj.weight", Rows.all(b + "attn_output.weight", c.hiddenSize()), qOut, 0, null);
        return new Value[] {o, presentKey, presentValue};
    }

    /** [batch, seq, n*D] to [batch, n, seq, D]. */
    private Value heads(String p, String suffix, Value x, int n) {
        Value r = op("Reshape", p + "/Reshape" + suffix, x, constLongs("const.shape.heads." + n, 0, 0, n, c.headDim()));
        return g.op("Transpose").name(p + "/Transpose" + suffix).inputs(r).attr("perm", new long[] {0, 2, 1, 3}).value();
    }

    /** HF apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1). */
    private Value rotate(String p, String suffix, Value x, Value[] cosSin) {
        int half = c.headDim() / 2;
        Value axis = constLongs("const.axes.3", 3);
        Value x1 = g.op("Slice").name(p + "/Slice" + suffix).inputs(x, constLongs("const.0", 0), constLongs("const.half", half), axis).value();
        Value x2 = g.op("Slice").name(p + "/Slice_1" + suffix).inputs(x, constLongs("const.half", half),
                constLongs("const.head_dim", c.headDim()), axis).value();
        Value rotated = g.op("Concat").name(p + "/Concat" + suffix).inputs(op("Neg", p + "/Neg" + suffix, x2), x1).attr("axis", -1L).value();
        Value a = op("Mul", p + "/Mul" + suffix, x, cosSin[0]);
        Value b = op("Mul", p + "/Mul_1" + suffix, rotated, cosSin[1]);
        return op("Add", p + "/Add" + suffix, a, b);
    }

    /** HF repeat_kv: [batch, kv, T, D] to [batch, heads, T, D], each kv head repeated heads/kv times in place. */
    private Value repeatKv(String p, String suffix, Value x) {
        int rep = c.heads() / c.kvHeads();
        if (rep == 1) {
            return x;
        }
        Value u = g.op("Unsqueeze").name(p + "/Unsqueeze" + suffix).inputs(x, constLongs("const.axes.2", 2)).value();
        Value e = op("Expand", p + "/Expand" + suffix, u, constLongs("const.shape.repeat_kv", 1, 1, rep, 1, 1));
        return op("Reshape", p + "/Reshape_4" + suffix, e, constLongs("const.shape.kv_heads", 0, c.heads(), -1, c.headDim()));
    }

    private Value mlp(int l, Value h) {
        String p = "/model/layers." + l + "/mlp";
        String w = "model.layers." + l + ".mlp.";
        String b = "blk." + l + ".";
        int ffn = c.intermediateSize();
        Rows gateRows;
        Rows upRows;
        if (gguf.findTensor(b + "ffn_gate.weight").isPresent()) {
            gateRows = Rows.all(b + "ffn_gate.weight", ffn);
            upRows = Rows.all(b + "ffn_up.weight", ffn);
        } else {
            // phi3: ffn_up holds [gate | up] (llama.cpp's fused SwiGLU: silu of the first half times the second)
            Rows fused = new Rows(b + "ffn_up.weight", 2 * ffn);
            gateRows = fused.slice(0, ffn);
            upRows = fused.slice(ffn, ffn);
        }
        Value gate = linear(p + "/gate_proj", h, w + "gate_proj.weight", gateRows, c.hiddenSize(), 0, null);
        Value silu = c.gemma() ? geluTanh(p + "/act_fn", gate) : op("Mul", p + "/act_fn/Mul", gate, op("Sigmoid", p + "/act_fn/Sigmoid", gate));
        Value up = linear(p + "/up_proj", h, w + "up_proj.weight", upRows, c.hiddenSize(), 0, null);
        Value product = op("Mul", p + "/Mul", silu, up);
        return linear(p + "/down_proj", product, w + "down_proj.weight", Rows.all(b + "ffn_down.weight", c.hiddenSize()),
                ffn, 0, null);
    }

    /**
     * Rows {@code first .. first+count-1} of GGUF matrix {@code tensor}, which has {@code tensorRows} rows (torch
     * layout [rows, cols]): a whole tensor, or one projection of a fused one.
     */
    record Rows(String tensor, int tensorRows, int first, int count) {
        Rows(String tensor, int tensorRows) {
            this(tensor, tensorRows, 0, tensorRows);
        }

        static Rows all(String tensor, int rows) {
            return new Rows(tensor, rows);
        }

        Rows slice(int from, int n) {
            return new Rows(tensor, tensorRows, first + from, n);
        }

        boolean whole() {
            return first == 0 && count == tensorRows;
        }

        float[] of(float[] data, int cols) {
            return whole() ? data : Arrays.copyOfRange(data, first * cols, (first + count) * cols);
        }
    }

    /** {@code x + bias} when the GGUF has the bias tensor (qwen2's q/k/v), else {@code x}; q/k rows un-permuted as their weights are. */
    private Value bias(String prefix, Value x, String name, String tensor, int size, int ropeHeads) {
        if (gguf.findTensor(tensor).isEmpty()) {
            return x;
        }
        GgufTensorInfo info = gguf.tensor(tensor);
        if (info.elementCount() != size || info.dims().length != 1) {
            throw new BadModelException("tensor " + tensor + " in " + gguf.path() + " has shape " + Arrays.toString(info.shape())
                    + "; expected [" + size + "]");
        }
        float[] data = gguf.readFloats(info);
        if (ropeHeads > 0) {
            data = unpermute(data, size, 1, ropeHeads);
        }
        return op("Add", prefix + "/Add", x, g.addInitializer(name, sink.floats(new long[] {size}, data)));
    }

    /** GELU, tanh approximation (gelu_pytorch_tanh, ggml_gelu): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    private Value geluTanh(String p, Value x) {
        Value cube = op("Mul", p + "/Mul", op("Mul", p + "/Mul_1", x, x), x);
        Value inner = op("Add", p + "/Add", x, op("Mul", p + "/Mul_2", cube, constFloat("const.gelu.0_044715", 0.044715f)));
        Value t = op("Tanh", p + "/Tanh", op("Mul", p + "/Mul_3", inner, constFloat("const.gelu.sqrt_2_over_pi", (float) Math.sqrt(2 / Math.PI))));
        Value onePlus = op("Add", p + "/Add_1", t, constFloat("const.float.1", 1f));
        return op("Mul", p + "/Mul_5", op("Mul", p + "/Mul_4", x, constFloat("const.float.0_5", 0.5f)), onePlus);
    }

    /** LlamaRMSNorm as torch.onnx exports it: weight * (x / sqrt(mean(x^2) + eps)). */
    private Value rmsNorm(String p, Value x, Value weight) {
        Value squared = op("Pow", p + "/Pow", x, constFloat("const.float.2", 2f));
        Value mean = g.op("ReduceMean").name(p + "/ReduceMean").inputs(squared).attr("axes", new long[] {-1})
                .attr("keepdims", 1L).value();
        Value plusEps = op("Add", p + "/Add", mean, constFloat("const.rms_norm_eps", c.rmsNormEps()));
        Value root = op("Sqrt", p + "/Sqrt", plusEps);
        Value inverse = op("Div", p + "/Div", constFloat("const.float.1", 1f), root);
        Value normalised = op("Mul", p + "/Mul", x, inverse);
        return op("Mul", p + "/Mul_1", weight, normalised);
    }

    /**
     * {@code x} times the transpose of GGUF tensor {@code tensor} (torch layout [out, in]), with rows
     * un-permuted from the GGUF rotary layout when {@code ropeHeads > 0}: a MatMul of a float32 [in, out]
     * initializer, or a MatMulNBits when the weight format asks for one (see {@link #quantised}). The node is
     * named {@code prefix/MatMul} or {@code prefix/MatMulNBits}; {@code output} names its output (null: the
     * graph picks a name).
     */
    private Value linear(String prefix, Value x, String name, Rows rows, int in, int ropeHeads, String output) {
        int out = rows.count();
        BlockQuantised blocks = quantised(rows, in);
        if (blocks == null) {
            var node = g.op("MatMul").name(prefix + "/MatMul").inputs(x, weight(name, rows, in, ropeHeads));
            return output == null ? node.value() : node.outputs(output).value();
        }
        if (ropeHeads > 0) {
            blocks = blocks.permuteRows(ggufRows(out, ropeHeads));
        }
        quantisedProjections++;
        Value packed = g.addInitializer(name + ".packed", sink.bytes(DataType.UINT8,
                new long[] {out, blocks.blocksPerRow(), BlockQuantised.BLOCK * blocks.bits() / 8}, blocks.packed()));
        Value scales = g.addInitializer(name + ".scales", sink.floats(new long[] {(long) out * blocks.blocksPerRow()}, blocks.scales()));
        var node = g.op("MatMulNBits").domain(MS_DOMAIN).name(prefix + "/MatMulNBits")
                .attr("K", (long) in).attr("N", (long) out).attr("bits", (long) blocks.bits())
                .attr("block_size", (long) BlockQuantised.BLOCK);
        if (blocks.zeroPoints() != null) {
            Value zeroPoints = g.addInitializer(name + ".zero_points", sink.bytes(DataType.UINT8,
                    new long[] {(long) out * blocks.zeroPointBytesPerRow()}, blocks.zeroPoints()));
            node.inputs(x, packed, scales, zeroPoints);
        } else {
            node.inputs(x, packed, scales);
        }
        return output == null ? node.value() : node.outputs(output).value();
    }

    /**
     * The tensor as MatMulNBits blocks, or null where it stays a float32 MatMul: format F32, a float tensor
     * under KEEP, or a row length that is not a whole number of 32-element blocks. Q4_0 (to 4 bits) and Q8_0
     * (to 8 bits) are copied bit for bit; everything else is requantised from its dequantised values (see
     * {@link #bitsFor}) and the error is recorded.
     */
    private BlockQuantised quantised(Rows rows, int cols) {
        GgufTensorInfo info = gguf.tensor(rows.tensor());
        GgmlType type = info.type();
        boolean floatType = type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16;
        if (format == WeightFormat.F32 || (format == WeightFormat.KEEP && floatType) || cols % BlockQuantised.BLOCK != 0) {
            return null;
        }
        checkMatrix(info, rows.tensorRows(), cols);
        if (type == GgmlType.Q4_0 && format != WeightFormat.INT8) {
            return BlockQuantised.fromQ4_0(gguf.rawData(info), rows.tensorRows(), cols).rows(rows.first(), rows.count());
        }
        if (type == GgmlType.Q8_0 && format != WeightFormat.INT4) {
            return BlockQuantised.fromQ8_0(gguf.rawData(info), rows.tensorRows(), cols).rows(rows.first(), rows.count());
        }
        float[] values = rows.of(gguf.readFloats(info), cols);
        int n = rows.count();
        BlockQuantised blocks = bitsFor(type) == 8 ? BlockQuantised.int8(values, n, cols) : BlockQuantised.int4(values, n, cols);
        requantised++;
        worstRequantisationError = Math.max(worstRequantisationError, QuantisationError.relativeRms(values, blocks.dequantise()));
        return blocks;
    }

    /** MatMulNBits width for a requantised tensor: the format's, or under KEEP the narrowest that holds the type's bits. */
    private int bitsFor(GgmlType type) {
        return switch (format) {
            case INT8 -> 8;
            case INT4 -> 4;
            default -> switch (type) {
                case Q5_0, Q5_1, Q5_K, Q6_K, Q8_1, Q8_K -> 8;
                default -> 4;
            };
        };
    }

    /** A linear layer's weight as MatMul wants it, [in, out]: rows un-permuted, then transposed. */
    private Value weight(String name, Rows rows, int in, int ropeHeads) {
        int out = rows.count();
        float[] data = rows.of(floats(rows.tensor(), rows.tensorRows(), in), in);
        if (ropeHeads > 0) {
            data = unpermute(data, out, in, ropeHeads);
        }
        return g.addInitializer(name, sink.floats(new long[] {in, out}, transpose(data, out, in)));
    }

    private Value vector(String name, String tensor) {
        GgufTensorInfo info = gguf.tensor(tensor);
        if (info.elementCount() != c.hiddenSize() || info.dims().length != 1) {
            throw new BadModelException("tensor " + tensor + " in " + gguf.path() + " has shape " + Arrays.toString(info.shape())
                    + "; expected [" + c.hiddenSize() + "]");
        }
        return g.addInitializer(name, sink.floats(new long[] {c.hiddenSize()}, gguf.readFloats(info)));
    }

    /** The tensor as float32 in torch layout [rows, cols] (ggml dims [cols, rows]), checking its shape. */
    private float[] floats(String tensor, int rows, int cols) {
        GgufTensorInfo info = gguf.tensor(tensor);
        checkMatrix(info, rows, cols);
        return gguf.readFloats(info);
    }

    private void checkMatrix(GgufTensorInfo info, int rows, int cols) {
        long[] dims = info.dims();
        if (dims.length != 2 || dims[0] != cols || dims[1] != rows) {
            throw new BadModelException("tensor " + info.name() + " in " + gguf.path() + " has shape " + Arrays.toString(info.shape())
                    + "; expected [" + rows + ", " + cols + "]");
        }
    }

    /** Rows in HF order taken from the GGUF rows: see {@link #ggufRows}. */
    static float[] unpermute(float[] data, int rows, int cols, int heads) {
        int[] from = ggufRows(rows, heads);
        float[] out = new float[data.length];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(data, from[r] * cols, out, r * cols, cols);
        }
        return out;
    }

    /** For each HF row, the GGUF row it takes: HF row h*D + s*D/2 + j is GGUF row h*D + 2j + s (inverse of llama.cpp's permute). */
    static int[] ggufRows(int rows, int heads) {
        int headDim = rows / heads;
        int half = headDim / 2;
        int[] from = new int[rows];
        for (int h = 0; h < heads; h++) {
            for (int s = 0; s < 2; s++) {
                for (int j = 0; j < half; j++) {
                    from[h * headDim + s * half + j] = h * headDim + 2 * j + s;
                }
            }
        }
        return from;
    }

    static float[] transpose(float[] data, int rows, int cols) {
        float[] out = new float[data.length];
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            for (int col = 0; col < cols; col++) {
                out[col * rows + r] = data[base + col];
            }
        }
        return out;
    }

    private Value op(String type, String name, Value... inputs) {
        return g.op(type).name(name).inputs(inputs).value();
    }

    /** A shared int64 1-D constant initializer. */
    private Value constLongs(String name, long... values) {
        return g.find(name).orElseGet(() -> g.addInitializer(name, Tensor.vector(values)));
    }

    private Value constFloat(String name, float value) {
        return g.find(name).orElseGet(() -> g.addInitializer(name, Tensor.scalar(value)));
    }
}
