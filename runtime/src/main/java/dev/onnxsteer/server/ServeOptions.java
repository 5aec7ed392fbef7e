package dev.onnxsteer.server;

import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * How {@link ServedModel#open} prepares a model beyond its files.
 *
 * @param chatTemplate    a Jinja chat template file, or null for the model's own {@code chat_template}
 * @param readOnlyVectors refuse uploads and deletes of vectors; the served model then takes steering
 *                        only at the sites the start-up vectors use
 * @param maxVectorBytes  the largest vector file an upload may send
 * @param allowLargeVectors accept vectors beyond {@code VectorBounds}' plausible norm, at start-up and in uploads,
 *                        instead of refusing the file as corrupted
 * @param ablateClamp     also give every steerable site a per-row direction stage, so requests may use
 *                        {@code op: ablate} and {@code op: clamp} steering entries (see {@link InputModeSteering})
 * @param saes            SAELens directories requests may take features of ({@code {"sae": NAME, "feature": N}}), by
 *                        the name requests use; requests never name a path
 */
public record ServeOptions(Path chatTemplate, boolean readOnlyVectors, int maxVectorBytes, boolean allowLargeVectors,
        boolean ablateClamp, Map<String, Path> saes) {
    /** 16 MiB: a float32 vector for each of 128 layers of hidden size 32768. */
    public static final int DEFAULT_MAX_VECTOR_BYTES = 16 << 20;

    /** The model's own template, vectors manageable at run time, uploads up to 16 MiB. */
    public static final ServeOptions DEFAULTS = new ServeOptions(null, false, DEFAULT_MAX_VECTOR_BYTES, false, false);

    public ServeOptions {
        if (maxVectorBytes < 1) {
            throw new IllegalArgumentException("the vector upload limit must be >= 1 byte, got " + maxVectorBytes);
        }
        saes = Collections.unmodifiableMap(new TreeMap<>(saes));
    }

    /** Without SAEs. */
    public ServeOptions(Path chatTemplate, boolean readOnlyVectors, int maxVectorBytes, boolean allowLargeVectors,
            boolean ablateClamp) {
        this(chatTemplate, readOnlyVectors, maxVectorBytes, allowLargeVectors, ablateClamp, Map.of());
    }

    /** Without the ablate/clamp stage. */
    public ServeOptions(Path chatTemplate, boolean readOnlyVectors, int maxVectorBytes, boolean allowLargeVectors) {
        this(chatTemplate, readOnlyVectors, maxVectorBytes, allowLargeVectors, false);
    }

    public ServeOptions withChatTemplate(Path value) {
        return new ServeOptions(value, readOnlyVectors, maxVectorBytes, allowLargeVectors, ablateClamp, saes);
    }

    public ServeOptions withReadOnlyVectors(boolean value) {
        return new ServeOptions(chatTemplate, value, maxVectorBytes, allowLargeVectors, ablateClamp, saes);
    }

    public ServeOptions withMaxVectorBytes(int value) {
        return new ServeOptions(chatTemplate, readOnlyVectors, value, allowLargeVectors, ablateClamp, saes);
    }

    public ServeOptions withAllowLargeVectors(boolean value) {
        return new ServeOptions(chatTemplate, readOnlyVectors, maxVectorBytes, value, ablateClamp, saes);
    }

    public ServeOptions withAblateClamp(boolean value) {
        return new ServeOptions(chatTemplate, readOnlyVectors, maxVectorBytes, allowLargeVectors, value, saes);
    }

    public ServeOptions withSaes(Map<String, Path> value) {
        return new ServeOptions(chatTemplate, readOnlyVectors, maxVectorBytes, allowLargeVectors, ablateClamp, value);
    }
}
