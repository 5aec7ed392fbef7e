package dev.onnxsteer.vectors;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteNames;
import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code onnx_steer.*} keys our vector files carry, the same in GGUF metadata and safetensors headers. */
final class MetadataKeys {
    static final String PREFIX = "onnx_steer.";
    static final String SITE = PREFIX + "site";
    static final String METHOD = PREFIX + "method";
    static final String SOURCE_MODEL_HASH = PREFIX + "source_model_hash";
    static final String MODEL_HINT = PREFIX + "model_hint";
    static final String HIDDEN_SIZE = PREFIX + "hidden_size";
    static final String VERSION = PREFIX + "version";

    private MetadataKeys() {}

    /** Our metadata as string key/values ({@code model_hint} included only when asked: GGUF has its own key). */
    static Map<String, String> toStrings(VectorMetadata m, int hiddenSize, boolean withModelHint) {
        Map<String, String> out = new LinkedHashMap<>();
        out.put(SITE, m.site());
        if (m.method() != null) {
            out.put(METHOD, m.method());
        }
        if (m.sourceModelHash() != null) {
            out.put(SOURCE_MODEL_HASH, m.sourceModelHash());
        }
        if (withModelHint && m.modelHint() != null) {
            out.put(MODEL_HINT, m.modelHint());
        }
        out.put(HIDDEN_SIZE, Integer.toString(hiddenSize));
        out.put(VERSION, OnnxSteer.VERSION);
        m.extra().forEach((k, v) -> out.put(PREFIX + k, v));
        return out;
    }

    static boolean isReserved(String key) {
        return key.equals(SITE) || key.equals(METHOD) || key.equals(SOURCE_MODEL_HASH) || key.equals(MODEL_HINT)
                || key.equals(HIDDEN_SIZE) || key.equals(VERSION);
    }

    /**
     * Builds metadata from {@code onnx_steer.*} strings; other keys are ignored. The site and keys come from a
     * file, so a corrupted one is the file's fault ({@link BadVectorException} naming {@code file}), never
     * mistaken for a site the user asked for.
     */
    static VectorMetadata fromStrings(Map<String, String> strings, String modelHint, String file) {
        String site = strings.getOrDefault(SITE, VectorMetadata.DEFAULT_SITE);
        try {
            if (SiteNames.parse(site).hasLayer()) {
                throw new IllegalArgumentException("a site with a layer");
            }
        } catch (IllegalArgumentException e) {
            throw new BadVectorException(FileProblem.message(file, SITE + " is not a site kind",
                    "a site kind such as " + SiteKind.RESID_POST.label(), site));
        }
        try {
            return fromStrings(strings, modelHint);
        } catch (IllegalArgumentException e) {
            throw new BadVectorException(FileProblem.message(file, "metadata key is not lower_snake_case",
                    "keys like " + PREFIX + "method", e.getMessage()));
        }
    }

    /** Refuses a file whose {@code onnx_steer.hidden_size} (when present) is not the length its tensors have. */
    static void checkHiddenSize(Map<String, String> strings, int hidden, String file) {
        String declared = strings.get(HIDDEN_SIZE);
        if (declared != null && !declared.equals(Integer.toString(hidden))) {
            throw new BadVectorException(FileProblem.message(file, HIDDEN_SIZE + " disagrees with the tensors", hidden, declared));
        }
    }

    private static VectorMetadata fromStrings(Map<String, String> strings, String modelHint) {
        Map<String, String> extra = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : strings.entrySet()) {
            if (e.getKey().startsWith(PREFIX) && !isReserved(e.getKey())) {
                extra.put(e.getKey().substring(PREFIX.length()), e.getValue());
            }
        }
        String hint = modelHint != null ? modelHint : strings.get(MODEL_HINT);
        return new VectorMetadata(strings.getOrDefault(SITE, VectorMetadata.DEFAULT_SITE), strings.get(METHOD),
                strings.get(SOURCE_MODEL_HASH), hint, extra);
    }
}
