package dev.onnxsteer.generate;

import java.util.Locale;

/** Why a row stopped generating. */
public enum FinishReason {
    /** The row produced an end-of-sequence token (not included in the output). */
    EOS,
    /** The generated text reached a stop string (the text is cut before it). */
    STOP,
    /** The row reached max tokens or the model's context length. */
    LENGTH,
    /** The caller stopped the row (e.g. a server's client went away or its deadline passed). */
    CANCELLED;

    /** {@code eos}, {@code stop} or {@code length}, as written in JSON. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
