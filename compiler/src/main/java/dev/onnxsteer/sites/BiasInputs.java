package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import java.util.function.Predicate;

/**
 * Where bias mode can give a bias-less projection a bias of its own: a residual write made by an op whose
 * optional float bias input is absent ({@code com.microsoft MatMulNBits}' input 5, for the widths {@link
 * Layouts#biasInput} allows). The site has no bias initializer yet, so {@link Site#biasFoldable} is false, but
 * {@code c*v} still folds without a node: the compile creates the initializer.
 */
public final class BiasInputs {
    private BiasInputs() {}

    /** The bias-less MatMulNBits that can take {@code c*v} as a new bias input for {@code site}, or null. */
    public static Node freeBiasInput(Site site) {
        if (site.bias() != null || site.kind().isSublayerInput()) {
            return null;
        }
        Value out = sublayerOutput(site, v -> isNBits(v.producer()));
        Node p = out == null ? null : out.producer();
        int input = p == null ? -1 : Layouts.biasInput(p);
        boolean free = isNBits(p) && input >= 0 && (p.inputCount() <= input || p.input(input) == null);
        return free && p.intAttribute("N", -1) == site.hiddenSize() ? p : null;
    }

    /**
     * The sublayer output whose projection makes the residual write at {@code site}: the site itself at attn_out
     * and mlp_out; at a residual sum, the one join input {@code writer} accepts that feeds nothing else; else null.
     */
    public static Value sublayerOutput(Site site, Predicate<Value> writer) {
        SiteKind kind = site.kind();
        if (kind == SiteKind.ATTN_OUT || kind == SiteKind.MLP_OUT) {
            return site.value();
        }
        boolean residual = kind == SiteKind.RESID_MID || kind == SiteKind.RESID_POST
                || kind == SiteKind.RESID_PRE && site.layer() > 0;
        Node join = site.value().producer();
        if (!residual || join == null) {
            return null;
        }
        boolean sum = join.is("Add") || Layouts.isSkipNorm(join) && site.value().outputIndex() == 3;
        for (int i = 0; sum && i < 2; i++) {
            Value in = join.input(i);
            if (in != null && !in.isGraphOutput() && in.uses().size() == 1 && writer.test(in)) {
                return in;
            }
        }
        return null;
    }

    static boolean isNBits(Node n) {
        return n != null && n.opType().equals("MatMulNBits") && n.domain().equals(Layouts.MS);
    }
}
