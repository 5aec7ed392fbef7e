package dev.onnxsteer.session;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;

/**
 * An open ONNX Runtime session with where it came from and the device it actually runs on.
 * Closing it closes the session; use after close is an IllegalStateException from ONNX Runtime.
 */
public final class ModelSession implements AutoCloseable {
    private final OrtSession session;
    private final Device device;
    private final String source;

    ModelSession(OrtSession session, Device device, String source) {
        this.session = session;
        this.device = device;
        this.source = source;
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

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new InferenceException("cannot close the session of " + source + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return source + " on " + device;
    }
}
