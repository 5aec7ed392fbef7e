package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * One steerable tensor: {@code kind.layer} in {@code graph} (a merged decoder has one per If
 * branch). {@code bias} is set when a bias initializer directly produces the sublayer output that
 * feeds this site, so adding a constant here can be folded into that bias. For the sublayer inputs
 * ({@code attn_in}, {@code mlp_in}) {@code projections} lists the linear projections that read the
 * site, when every reader is one (empty otherwise); a constant added there folds into their biases.
 */
public record Site(SiteKind kind, int layer, Value value, Graph graph, long hiddenSize, BiasSlot bias,
        List<Projection> projections) {

    public Site {
        projections = List.copyOf(projections);
    }

    public Site(SiteKind kind, int layer, Value value, Graph graph, long hiddenSize, BiasSlot bias) {
        this(kind, layer, value, graph, hiddenSize, bias, List.of());
    }

    /** The site's name as users write it, e.g. {@code resid_post.3}. */
    public String name() {
        return kind.label() + "." + layer;
    }

    /**
     * Whether {@code --mode bias} can fold a constant added here without adding a node: a bias slot
     * for the residual and sublayer-output sites; for the sublayer inputs, float projections that all have
     * a bias (folding into a quantized projection's bias needs its dequantized {@code W}).
     */
    public boolean biasFoldable() {
        if (kind.isSublayerInput()) {
            return !projections.isEmpty() && projections.stream().allMatch(p -> p.hasBias() && !p.quantized());
        }
        return bias != null;
    }
}
