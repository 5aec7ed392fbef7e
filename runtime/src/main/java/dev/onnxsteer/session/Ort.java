package dev.onnxsteer.session;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoggingLevel;

/** The one {@link OrtEnvironment} of this process, shared by every session and tensor. */
public final class Ort {
    static {
        NativeLibraries.useCache();
    }

    private Ort() {}

    /**
     * The shared environment, logging ONNX Runtime errors only (its warnings would clutter stderr);
     * ONNX Runtime keeps it alive for the life of the process, so it is never closed.
     */
    public static OrtEnvironment env() {
        return OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, "onnx-steer");
    }
}
