package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;

/**
 * The position-dependent inputs every decoder layer shares, built once per graph as HF's models build them:
 * the additive attention mask (causal, padding, and for sliding-window layers the window) and the cos/sin
 * tables of the rotary embedding.
 */
final class Positions {
    private static final float MASK_MIN = -3.4028234663852886e38f; // torch.finfo(float32).min, as HF masks

    private final GraphBuilder b;
    private final Graph g;

    Positions(GraphBuilder builder) {
        this.b = builder;
        this.g = builder.graph();
    }

    /**
     * [batch, 1, seq, total] float: 0 where key j may be seen by query i (j <= past + i, not padding, and with
     * {@code window > 0} also past + i - j < window: HF's sliding window and llama.cpp's LLAMA_SWA_TYPE_STANDARD),
     * else float min.
     */
    Value mask(Value inputIds, Value attentionMask, int window) {
        String p = window > 0 ? "/model/sliding_attn_mask" : "/model/attn_mask";
        Value zero = b.constLong("const.int64.0", 0);
        Value one = b.constLong("const.int64.1", 1);
        Value seqLen = b.op("Gather", p + "/Gather", b.op("Shape", p + "/Shape", inputIds), one);
        Value totalLen = b.op("Gather", p + "/Gather_1", b.op("Shape", p + "/Shape_1", attentionMask), one);
        Value pastLen = b.op("Sub", p + "/Sub", totalLen, seqLen);
        Value queryPositions = b.op("Range", p + "/Range", pastLen, totalLen, one);
        Value keyPositions = b.op("Range", p + "/Range_1", zero, totalLen, one);
        Value column = g.op("Unsqueeze").name(p + "/Unsqueeze").inputs(queryPositions, b.constLongs("const.axes.1", 1)).value();
        Value row = g.op("Unsqueeze").name(p + "/Unsqueeze_1").inputs(keyPositions, b.constLongs("const.axes.0", 0)).value();
        Value causal = b.op("LessOrEqual", p + "/LessOrEqual", row, column);
        if (window > 0) {
            Value oldest = b.op("Sub", p + "/Sub_1", column, b.constLong("const.int64.window", window));
            causal = b.op("And", p + "/And_1", causal, b.op("Greater", p + "/Greater", row, oldest));
        }
        Value notPadding = g.op("Cast").name(p + "/Cast").inputs(attentionMask).attr("to", (long) DataType.BOOL.code()).value();
        Value notPadding4 = g.op("Unsqueeze").name(p + "/Unsqueeze_2").inputs(notPadding, b.constLongs("const.axes.1_2", 1, 2)).value();
        Value allowed = b.op("And", p + "/And", causal, notPadding4);
        return b.op("Where", p + "/Where", allowed, b.constFloat("const.float.0", 0f), b.constFloat("const.float.min", MASK_MIN));
    }

    /** cos and sin of HF's rotary embedding, [batch, 1, seq, head_dim] each. */
    Value[] rotary(GgufFile gguf, LlamaConfig c, Value positionIds) {
        String p = "/model/rotary_emb";
        int half = c.headDim() / 2;
        Value invFreqValue = g.addInitializer("model.rotary_emb.inv_freq", Tensor.ofFloats(new long[] {half}, inverseFrequencies(gguf, c)));
        Value positions = g.op("Cast").name(p + "/Cast").inputs(positionIds).attr("to", (long) DataType.FLOAT.code()).value();
        Value positions3 = g.op("Unsqueeze").name(p + "/Unsqueeze").inputs(positions, b.constLongs("const.axes.2", 2)).value();
        Value freqs = b.op("Mul", p + "/Mul", positions3, invFreqValue);
        Value emb = g.op("Concat").name(p + "/Concat").inputs(freqs, freqs).attr("axis", -1L).value();
        Value axes1 = b.constLongs("const.axes.1", 1);
        Value cos = g.op("Unsqueeze").name(p + "/Unsqueeze_1").inputs(b.op("Cos", p + "/Cos", emb), axes1).value();
        Value sin = g.op("Unsqueeze").name(p + "/Unsqueeze_2").inputs(b.op("Sin", p + "/Sin", emb), axes1).value();
        return new Value[] {cos, sin};
    }

    /** The rotary embedding's inverse frequencies, [head_dim / 2]: HF's, divided by the linear scaling factor and llama3's rope_freqs. */
    static float[] inverseFrequencies(GgufFile gguf, LlamaConfig c) {
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
        return invFreq;
    }
}
