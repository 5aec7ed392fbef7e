package dev.onnxsteer.sites;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The places in a transformer block where a vector can be added (residual-stream vocabulary). */
public enum SiteKind {
    /** Input to block L: the output of block L-1, or the embeddings for L = 0. */
    RESID_PRE("resid_pre"),
    /** Output of the attention sublayer before it joins the residual. */
    ATTN_OUT("attn_out"),
    /** Residual after the attention add. */
    RESID_MID("resid_mid"),
    /** Output of the MLP sublayer before it joins the residual. */
    MLP_OUT("mlp_out"),
    /** Output of block L (the default site). */
    RESID_POST("resid_post");

    private final String label;

    SiteKind(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public static SiteKind parse(String text) {
        for (SiteKind kind : values()) {
            if (kind.label.equals(text)) {
                return kind;
            }
        }
        throw new IllegalArgumentException("unknown site '" + text + "', expected one of "
                + Arrays.stream(values()).map(SiteKind::label).collect(Collectors.joining(", ")));
    }
}
