package dev.onnxsteer.session;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An open ONNX Runtime session with where it came from and the device it actually runs on.
 * Closing it closes the session and its input defaults; use after close is an
 * IllegalStateException from ONNX Runtime.
 *
 * <p>A compiled model's overridable steering inputs ({@code onnx_steer.runtime_inputs}) are opened
 * as required inputs, because ONNX Runtime's Java API cannot feed an input that has a default;
 * {@link #inputDefaults()} holds their defaults, which generation and {@code Forward} feed for every
 * such input the caller does not supply.
 */
public final class ModelSession implements AutoCloseable {
    private final OrtSession session;
    private final Device device;
    private final String source;
    private final Map<String, OnnxTensor> defaults;
    private final Set<String> operators;
    private final Map<String, String> inPlaceCache;

    ModelSession(OrtSession session, Device device, String source) {
        this(session, device, source, Map.of());
    }

    ModelSession(OrtSession session, Device device, String source, Map<String, OnnxTensor> defaults) {
        this(session, device, source, defaults, Set.of(), Map.of());
    }

    private ModelSession(OrtSession session, Device device, String source, Map<String, OnnxTensor> defaults,
            Set<String> operators, Map<String, String> inPlaceCache) {
        this.session = session;
        this.device = device;
        this.source = source;
        this.defaults = Collections.unmodifiableMap(new LinkedHashMap<>(defaults));
        this.operators = Set.copyOf(operators);
        this.inPlaceCache = Collections.unmodifiableMap(new LinkedHashMap<>(inPlaceCache));
    }

    /** A copy of this handle carrying {@code inputDefaults} (which it will own). */
    ModelSession withDefaults(Map<String, OnnxTensor> inputDefaults) {
        return new ModelSession(session, device, source, inputDefaults, operators, inPlaceCache);
    }

    /** A copy of this handle that knows the operators and the in-place cache pairs of its graph. */
    ModelSession withGraph(Set<String> graphOperators, Map<String, String> graphInPlaceCache) {
        return new ModelSession(session, device, source, defaults, graphOperators, graphInPlaceCache);
    }

    /**
     * The operator types in the model's graphs (subgraphs included), {@code opType} for the default domain and
     * {@code domain.opType} otherwise (e.g. {@code com.microsoft.GroupQueryAttention}); empty when the session was
     * opened from bytes, whose graph was never read.
     */
    public Set<String> operators() {
        return operators;
    }

    /**
     * Past input to present output of each cache tensor that ONNX Runtime's GroupQueryAttention can update in
     * place when both are bound to one buffer ({@link InPlaceCache}); empty when the session was opened from bytes.
     */
    public Map<String, String> inPlaceCache() {
        return inPlaceCache;
    }

    /** The ONNX Runtime session; owned by this object. */
    public OrtSession ort() {
        return session;
    }

    /** The resolved device: {@code cpu} or {@code cuda:N}, never {@code auto}. */
    public Device device() {
        return device;
    }

    /** The model file name, or the label given for in-memory bytes; used in error messages. */
    public String source() {
        return source;
    }

    /**
     * Defaults of the inputs that were lifted from initializer defaults to required inputs, by name;
     * owned by this session (do not close them). Empty for models without steering inputs.
     */
    public Map<String, OnnxTensor> inputDefaults() {
        return defaults;
    }

    /** {@code feeds} plus the {@link #inputDefaults()} of every lifted input they do not supply. */
    public Map<String, OnnxTensor> withInputDefaults(Map<String, OnnxTensor> feeds) {
        if (defaults.isEmpty()) {
            return feeds;
        }
        Map<String, OnnxTensor> all = new LinkedHashMap<>(feeds);
        defaults.forEach(all::putIfAbsent);
        return all;
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new InferenceException("cannot close the session of " + source + ": " + e.getMessage(), e);
        } finally {
            defaults.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public String toString() {
        return source + " on " + device;
    }
}
