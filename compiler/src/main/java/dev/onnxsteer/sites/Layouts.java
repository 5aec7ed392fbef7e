package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
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

    private Layouts() {}

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
