package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.importer.Projections.Rows;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * A GGUF's weights in the onnxruntime-genai layout ({@link GenaiGraph}): the same tensors {@link LlamaGraph} reads,
 * through the same {@link Projections} (float32 MatMul or MatMulNBits as the weight format says), with q|k|v packed
 * into one projection (qwen2's biases packed alike) and phi3's fused attn_qkv taken whole. Rotary is fused into
 * GroupQueryAttention where the head size allows it ({@link GenaiGraph.Rotary#forHeadSize}).
 */
final class GenaiImport implements GenaiGraph.Weights {
    static final long OPSET = 21;

    private final GgufFile gguf;
    private final LlamaConfig c;
    private final Projections weights;

    private GenaiImport(GgufFile gguf, LlamaConfig c, Projections weights) {
        this.gguf = gguf;
        this.c = c;
        this.weights = weights;
    }

    /** Refuses architectures the layout cannot express, naming the ones it can. */
    static void check(GgufFile gguf, LlamaConfig c) {
        if (!ImportFormat.GENAI_ARCHITECTURES.contains(c.architecture())) {
            throw new BadModelException(FileProblem.message(gguf.path(), "cannot be imported with --format genai",
                    "general.architecture one of " + String.join(", ", ImportFormat.GENAI_ARCHITECTURES), c.architecture()));
        }
    }

    /** The genai-layout model of {@code gguf}; see {@link LlamaGraph#build(GgufFile, LlamaConfig, WeightFormat, boolean, WeightSink)}. */
    static LlamaGraph.Built build(GgufFile gguf, LlamaConfig c, WeightFormat format, boolean int8Activations, WeightSink sink) {
        check(gguf, c);
        GraphBuilder b = new GraphBuilder();
        Projections projections = new Projections(gguf, format, int8Activations, sink, b);
        GenaiGraph.build(b.graph(), c, GenaiGraph.Rotary.forHeadSize(c.headDim()), Positions.inverseFrequencies(gguf, c),
                new GenaiImport(gguf, c, projections), true); // the last block stays steerable, as in the onnx layout
        Model model = new Model(b.graph());
        model.opsets().put("", OPSET);
        model.opsets().put(GraphBuilder.MS_DOMAIN, 1L);
        model.setIrVersion(10);
        model.setProducer("onnx-steer", OnnxSteer.VERSION);
        model.setDocString(GgufImporter.hfClass(c.architecture()) + " imported from " + gguf.path().getFileName()
                + " in the onnxruntime-genai layout");
        return new LlamaGraph.Built(model, projections.quantisedProjections(), projections.requantised(),
                projections.worstRequantisationError());
    }

    /** The builder's output name: {@code <node>/output_0}. */
    private static Value named(Value v) {
        v.rename(v.producer().name() + "/output_0");
        return v;
    }

    @Override
    public Value embedding() {
        return weights.matrix("model.embed_tokens.weight", "token_embd.weight", c.vocabSize(), c.hiddenSize());
    }

    @Override
    public Value norm(int layer, GenaiGraph.Norm norm) {
        String tensor = switch (norm) {
            case INPUT -> "blk." + layer + ".attn_norm.weight";
            case POST_ATTENTION -> "blk." + layer + ".ffn_norm.weight";
            case FINAL -> "output_norm.weight";
        };
        return weights.vector(norm.weightName(layer), tensor, c.hiddenSize());
    }

    @Override
    public Value linear(String scope, Value x, int layer, GenaiGraph.Projection projection) {
        String t = "blk." + layer + ".";
        int ffn = c.intermediateSize();
        int hidden = c.hiddenSize();
        boolean fusedUp = gguf.findTensor(t + "ffn_gate.weight").isEmpty(); // phi3: ffn_up holds [gate | up]
        Rows rows = switch (projection) {
            case O_PROJ -> Rows.all(t + "attn_output.weight", hidden);
            case GATE_PROJ -> fusedUp ? new Rows(t + "ffn_up.weight", 2 * ffn).slice(0, ffn) : Rows.all(t + "ffn_gate.weight", ffn);
            case UP_PROJ -> fusedUp ? new Rows(t + "ffn_up.weight", 2 * ffn).slice(ffn, ffn) : Rows.all(t + "ffn_up.weight", ffn);
            case DOWN_PROJ -> Rows.all(t + "ffn_down.weight", hidden);
            case LM_HEAD -> Rows.all(c.tiedEmbeddings() ? "token_embd.weight" : "output.weight", c.vocabSize());
        };
        int in = switch (projection) {
            case O_PROJ -> c.heads() * c.headDim();
            case DOWN_PROJ -> ffn;
            default -> hidden;
        };
        String name = projection.weightName(layer).replace(".weight", ".MatMul.weight");
        return named(weights.linear(scope, x, name, rows, in, 0, null));
    }

    @Override
    public Value qkv(String scope, Value x, int layer) {
        String t = "blk." + layer + ".";
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        int[] rope = c.rotaryRowsPermuted() ? new int[] {c.heads(), c.kvHeads(), 0} : new int[3];
        List<Rows> parts;
        if (gguf.findTensor(t + "attn_qkv.weight").isPresent()) {
            Rows fused = new Rows(t + "attn_qkv.weight", q + 2 * kv);
            parts = List.of(fused.slice(0, q), fused.slice(q, kv), fused.slice(q + kv, kv));
        } else {
            parts = List.of(Rows.all(t + "attn_q.weight", q), Rows.all(t + "attn_k.weight", kv), Rows.all(t + "attn_v.weight", kv));
        }
        String p = "model.layers." + layer + ".attn.qkv_proj.";
        Value out = named(weights.packedLinear(scope, x, p + "MatMul.weight", parts, c.hiddenSize(), rope, null));
        Value biased = weights.packedBias(scope, out, p + "Add.bias",
                new String[] {t + "attn_q.bias", t + "attn_k.bias", t + "attn_v.bias"}, new int[] {q, kv, kv}, rope);
        return biased == out ? out : named(biased);
    }
}
