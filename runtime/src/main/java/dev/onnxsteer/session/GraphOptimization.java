package dev.onnxsteer.session;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;

/** ONNX Runtime graph optimization levels; parity checks compare {@link #DISABLE_ALL} against the default {@link #ALL}. */
public enum GraphOptimization {
    DISABLE_ALL(OptLevel.NO_OPT),
    BASIC(OptLevel.BASIC_OPT),
    EXTENDED(OptLevel.EXTENDED_OPT),
    ALL(OptLevel.ALL_OPT);

    private final OptLevel ortLevel;

    GraphOptimization(OptLevel ortLevel) {
        this.ortLevel = ortLevel;
    }

    OptLevel ortLevel() {
        return ortLevel;
    }
}
