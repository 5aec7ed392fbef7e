package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.List;
import java.util.Set;

/**
 * Every graph layout site discovery recognises, in one place. The steps ({@link EmbeddingStarts},
 * {@link ResidualWalk}, {@link NormMatch}, {@link SiteAssembly}) ask here what a node is: a
 * residual join, a fused norm, an attention block, a linear projection. A new layout is a new
 * entry here (a {@link JoinPattern}, a {@link ProjectionPattern}, an op in a set), never a branch
 * in a step.
 */
public final class Layouts {
    static final String MS = "com.microsoft";

    /** Residual joins: a plain {@code Add}, and ONNX Runtime's skip norms, whose output 3 is the sum. */
    static final List<JoinPattern> JOINS = List.of(new AddJoin(), new SkipNormJoin());

    /** Linear projections reading a sublayer input, float and quantized; {@link Projections} asks them in turn. */
    static final List<ProjectionPattern> PROJECTIONS = List.of(new FloatProjections(), new FusedAttentionProjection(),
            new MatMulNBitsProjection(), new MatMulIntegerProjection(), new QdqProjection(), new Bnb4Projection());

    /** The ops a decomposed LayerNorm or RMSNorm (fp16 exports' Casts included) is built of. */
    static final Set<String> DECOMPOSED_NORM_OPS = Set.of("ReduceMean", "ReduceSum", "ReduceSumSquare", "Sub", "Pow",
            "Add", "Sqrt", "Div", "Mul", "Reciprocal", "Cast", "Identity");

    /** Ops that may stand between the input ids and the embedding Gather. */
    static final Set<String> ID_PASS_THROUGH = Set.of("Cast", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Flatten");

    /** Single-op norms whose output 0 normalises input 0 (ORT's SimplifiedLayerNormalization lives in the default domain). */
    private static final Set<String> NORM_OPS = Set.of("LayerNormalization", "SimplifiedLayerNormalization",
            "RMSNormalization");

    /** Element types of an embedding table stored as 8-bit integers and dequantized after the Gather. */
    private static final Set<DataType> BYTE_TABLES = Set.of(DataType.INT8, DataType.UINT8);

    private Layouts() {}

    /**
     * The float rows an embedding lookup of {@code node} yields, or null when it is none: a
     * {@code Gather} (axis 0) of a 2-D float initializer; a Gather of an 8-bit table whose only
     * reader is a {@code DequantizeLinear} (ONNX Runtime's dynamic quantization of Gather), which
     * yields the rows; {@code com.microsoft GatherBlockQuantized} (gather_axis 0, quantize_axis 1) of
     * block-quantized rows (int4/int8 embeddings of the model builder and Optimum's q4 exports).
     */
    static Value embeddedRows(Node node) {
        Value table = node.inputCount() >= 2 ? node.input(0) : null;
        if (table == null || !table.isInitializer() || table.initializer().rank() != 2) {
            return null;
        }
        DataType type = table.initializer().type();
        if (node.is("Gather") && node.intAttribute("axis", 0) == 0) {
            if (Projections.FLOATS.contains(type)) {
                return node.output(0);
            }
            List<Use> uses = node.output(0).uses();
            boolean dequantized = BYTE_TABLES.contains(type) && !node.output(0).isGraphOutput() && uses.size() == 1
                    && uses.get(0).index() == 0 && uses.get(0).node().is("DequantizeLinear");
            return dequantized ? uses.get(0).node().output(0) : null;
        }
        boolean blocks = node.domain().equals(MS) && node.opType().equals("GatherBlockQuantized")
                && node.intAttribute("gather_axis", 0) == 0 && node.intAttribute("quantize_axis", 1) == 1;
        return blocks ? node.output(0) : null;
    }

    /** The width of the rows {@link #embeddedRows} of {@code node} yields (its hidden size); -1 when unknown. */
    static long embeddingWidth(Node node) {
        Tensor table = node.input(0).initializer();
        if (!node.opType().equals("GatherBlockQuantized")) {
            return table.dim(1);
        }
        boolean packed = table.type() == DataType.UINT8;
        long bits = node.intAttribute("bits", 4);
        return packed && bits > 0 && 8 % bits == 0 ? table.dim(1) * (8 / bits) : packed ? -1 : table.dim(1);
    }

    /**
     * The input at which a projection op adds its own bias ({@code x W + b}): Gemm's C (2),
     * {@code com.microsoft MatMulNBits}' optional bias (5) for the 4- and 8-bit weights ONNX Runtime's
     * CPU kernel adds it for (see QuantisedBias); -1 for other ops.
     */
    static int biasInput(Node node) {
        if (node.is("Gemm")) {
            return 2;
        }
        long bits = node.intAttribute("bits", 4);
        boolean nBits = node.domain().equals(MS) && node.opType().equals("MatMulNBits") && (bits == 4 || bits == 8);
        return nBits ? 5 : -1;
    }

    /** Whether {@code node} is a single-op LayerNorm or RMSNorm. */
    static boolean isNormOp(Node node) {
        return NORM_OPS.contains(node.opType());
    }

    /**
     * Whether {@code node} is an ONNX Runtime skip norm, {@code com.microsoft} SkipLayerNormalization or
     * SkipSimplifiedLayerNormalization: {@code sum = input + skip (+ bias)} as output 3, its norm as output 0.
     */
    public static boolean isSkipNorm(Node node) {
        return node.domain().equals(MS) && (node.opType().equals("SkipLayerNormalization")
                || node.opType().equals("SkipSimplifiedLayerNormalization"));
    }

    /** The input index of a skip norm's optional bias: after gamma (and beta, which the simplified form lacks). */
    static int skipNormBiasInput(Node skipNorm) {
        return skipNorm.opType().equals("SkipSimplifiedLayerNormalization") ? 3 : 4;
    }

    /** ONNX Runtime's fused embedding: output 0 the normalised embeddings, optional output 2 their sum. */
    static boolean isEmbedLayerNorm(Node node) {
        return node.domain().equals(MS) && node.opType().equals("EmbedLayerNormalization");
    }

    /**
     * Whether {@code node} marks an attention block: a decomposed {@code Softmax}, or a fused
     * {@code Attention}, {@code MultiHeadAttention}, {@code GroupQueryAttention} (any op so named).
     */
    static boolean isAttention(Node node) {
        return node.is("Softmax") || node.opType().contains("Attention");
    }
}
