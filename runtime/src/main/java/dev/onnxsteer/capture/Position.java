package dev.onnxsteer.capture;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Which token positions of a prompt an activation is read at. Padding never counts. */
public enum Position {
    /** The prompt's last token: one sample per prompt. */
    LAST,
    /** The mean over the prompt's tokens: one sample per prompt. */
    MEAN,
    /** Every token of the prompt: one sample per token. */
    ALL;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Position parse(String text) {
        for (Position p : values()) {
            if (p.label().equals(text)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown position '" + text + "', expected one of "
                + Arrays.stream(values()).map(Position::label).collect(Collectors.joining(", ")));
    }
}
