package dev.onnxsteer.extract;

import java.util.Arrays;
import java.util.stream.Collectors;

/** How a steering vector is computed from contrastive activations. */
public enum Method {
    /** ActAdd: the positive prompt's activation minus the negative one's; exactly one pair. */
    DIFF("diff"),
    /** CAA: the mean positive activation minus the mean negative activation (the mean of the pair differences). */
    MEAN("mean"),
    /**
     * repeng's {@code pca_diff}: the first principal component of the pair differences (centred, as
     * scikit-learn's PCA does), signed so that positives project higher on average. Unit length.
     */
    PCA("pca"),
    /**
     * repeng's {@code pca_center}: the first principal component of the activations after subtracting each
     * pair's mean, signed the same way. Unit length.
     */
    PCA_CENTER("pca-center"),
    /**
     * CAST's condition vectors (IBM activation-steering's {@code pca_center}, not repeng's): the first
     * principal component of every prompt's activations centred on the mean of them all, both sides
     * together, signed the same way. Unit length.
     */
    PCA_GLOBAL("pca-global");

    private final String label;

    Method(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public boolean isPca() {
        return this == PCA || this == PCA_CENTER || this == PCA_GLOBAL;
    }

    public static Method parse(String text) {
        for (Method m : values()) {
            if (m.label.equals(text)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown method '" + text + "', expected one of "
                + Arrays.stream(values()).map(Method::label).collect(Collectors.joining(", ")));
    }
}
