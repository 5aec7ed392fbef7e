package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Value;

/**
 * One steerable tensor: {@code kind.layer} in {@code graph} (a merged decoder has one per If
 * branch). {@code bias} is set when a bias initializer directly produces the sublayer output that
 * feeds this site, so adding a constant here can be folded into that bias.
 */
public record Site(SiteKind kind, int layer, Value value, Graph graph, long hiddenSize, BiasSlot bias) {

    /** The site's name as users write it, e.g. {@code resid_post.3}. */
    public String name() {
        return kind.label() + "." + layer;
    }

    public boolean biasFoldable() {
        return bias != null;
    }
}
