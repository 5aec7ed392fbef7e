package dev.onnxsteer.vectors;

import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * What travels with a set of steering vectors.
 *
 * @param site the site kind the vectors are added at, without layer: {@code resid_post} (the default, and
 *     the only one llama.cpp applies), {@code resid_pre}, {@code attn_out}, {@code resid_mid}, {@code mlp_out}
 * @param method how the vectors were made (e.g. {@code mean_diff}, {@code pca_diff}); null when unknown
 * @param sourceModelHash sha256 (hex) of the model the vectors were measured on; null when unknown
 * @param modelHint the model family, as llama.cpp's {@code controlvector.model_hint} (e.g. {@code llama});
 *     null when unknown
 * @param extra further string facts, stored under {@code onnx_steer.<key>}; keys are lower_snake_case
 */
public record VectorMetadata(String site, String method, String sourceModelHash, String modelHint, Map<String, String> extra) {
    public static final String DEFAULT_SITE = "resid_post";
    private static final Pattern KEY = Pattern.compile("[a-z0-9_]+(\\.[a-z0-9_]+)*");

    public VectorMetadata {
        Objects.requireNonNull(site, "site");
        extra = java.util.Collections.unmodifiableMap(new TreeMap<>(extra == null ? Map.of() : extra));
        for (String key : extra.keySet()) {
            if (!KEY.matcher(key).matches()) {
                throw new IllegalArgumentException("metadata key " + key + " is not lower_snake_case segments separated by '.'");
            }
        }
    }

    /** Site {@code resid_post}, nothing else known. */
    public static VectorMetadata defaults() {
        return new VectorMetadata(DEFAULT_SITE, null, null, null, Map.of());
    }

    public VectorMetadata withSite(String site) {
        return new VectorMetadata(site, method, sourceModelHash, modelHint, extra);
    }

    public VectorMetadata withMethod(String method) {
        return new VectorMetadata(site, method, sourceModelHash, modelHint, extra);
    }

    public VectorMetadata withSourceModelHash(String sourceModelHash) {
        return new VectorMetadata(site, method, sourceModelHash, modelHint, extra);
    }

    public VectorMetadata withModelHint(String modelHint) {
        return new VectorMetadata(site, method, sourceModelHash, modelHint, extra);
    }

    public VectorMetadata withExtra(String key, String value) {
        Map<String, String> map = new TreeMap<>(extra);
        map.put(key, value);
        return new VectorMetadata(site, method, sourceModelHash, modelHint, map);
    }
}
