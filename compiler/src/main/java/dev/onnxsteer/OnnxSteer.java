package dev.onnxsteer;

/** Facts about this build of onnx-steer. */
public final class OnnxSteer {
    /** Recorded as {@code onnx_steer.version} in every model the compiler writes. */
    public static final String VERSION = "0.1.0";

    private OnnxSteer() {}
}
