package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * What one run of a generate call binds and asks for: the pinned outputs (the logits from {@link LastLogits}, the
 * presents of an in-place {@link KvCache}) and, by name, every other output. Both pin maps stay the same objects
 * while their shapes do, so the merged map and the name set are rebuilt only when one of them changes (the prefill
 * and the first decode step), not at every step.
 */
final class RunOutputs {
    private final Set<String> all;
    private Map<String, OnnxTensor> logitPins;
    private Map<String, OnnxTensor> cachePins;
    private Map<String, OnnxTensor> pinned = Map.of();
    private Set<String> requested = Set.of();

    RunOutputs(LogitsLayout logits) {
        Set<String> names = new LinkedHashSet<>();
        names.add(logits.name());
        names.addAll(logits.otherOutputs());
        this.all = Collections.unmodifiableSet(names);
    }

    /** Chooses the outputs of the next run from the two pin maps (either may be empty). */
    void bind(Map<String, OnnxTensor> logits, Map<String, OnnxTensor> cache) {
        if (logits == logitPins && cache == cachePins) {
            return;
        }
        Map<String, OnnxTensor> merged = new LinkedHashMap<>(logits);
        merged.putAll(cache);
        Set<String> rest = new LinkedHashSet<>(all);
        rest.removeAll(merged.keySet());
        pinned = Collections.unmodifiableMap(merged);
        requested = Collections.unmodifiableSet(rest);
        logitPins = logits;
        cachePins = cache;
    }

    /** The outputs written into buffers held by the caller; empty when ONNX Runtime allocates every output. */
    Map<String, OnnxTensor> pinned() {
        return pinned;
    }

    /** The outputs ONNX Runtime allocates: all but the pinned ones. */
    Set<String> requested() {
        return requested;
    }
}
