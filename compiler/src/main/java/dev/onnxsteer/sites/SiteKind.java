package dev.onnxsteer.sites;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The places in a transformer block where a vector can be added (residual-stream vocabulary), in
 * the order a forward pass reaches them.
 */
public enum SiteKind {
    /** Input to block L: the output of block L-1, or the embeddings for L = 0. */
    RESID_PRE("resid_pre"),
    /** Normalised input of the attention sublayer: the output of ln_1 / input_layernorm. */
    ATTN_IN("attn_in"),
    /** Output of the attention sublayer before it joins the residual. */
    ATTN_OUT("attn_out"),
    /** Residual after the attention add. */
    RESID_MID("resid_mid"),
    /** Normalised input of the MLP sublayer: the output of ln_2 / post_attention_layernorm. */
    MLP_IN("mlp_in"),
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

    /** True for the sublayer inputs, which only the sublayer reads (not the residual stream). */
    public boolean isSublayerInput() {
        return this == ATTN_IN || this == MLP_IN;
    }

    /** Parses one of our own labels ({@code resid_post}); {@link SiteNames} also knows the aliases. */
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
