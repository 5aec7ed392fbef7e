package dev.onnxsteer.passes;

import java.util.Arrays;
import java.util.stream.Collectors;

/** How a steering vector is put into the graph. */
public enum Mode {
    /** A new Add node with the scaled vector as an initializer. */
    ADD("add"),
    /** The vector and coefficient are graph inputs with defaults, overridable per run. */
    INPUT("input"),
    /** Folded into the bias that produces the sublayer output feeding the site: no node added. */
    BIAS("bias"),
    /** BIAS where the site allows it, else ADD. */
    AUTO("auto");

    private final String label;

    Mode(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public static Mode parse(String text) {
        for (Mode mode : values()) {
            if (mode.label.equals(text)) {
                return mode;
            }
        }
        throw new IllegalArgumentException("unknown mode '" + text + "', expected one of "
                + Arrays.stream(values()).map(Mode::label).collect(Collectors.joining(", ")));
    }
}
