package dev.onnxsteer.capture;

import java.util.Locale;

/**
 * Where a batch's shorter prompts are padded. Either way the padded slots are masked out
 * ({@code attention_mask} 0), position ids are counted from the mask, and no padded slot is ever read,
 * so a prompt's activations do not depend on what it is batched with.
 */
public enum Padding {
    /** Pads after the prompt; with causal attention the prompt's tokens never see the padding. */
    RIGHT,
    /** Pads before the prompt, as generation does; relies on the model honouring the attention mask. */
    LEFT;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Padding parse(String text) {
        for (Padding p : values()) {
            if (p.label().equals(text)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown padding '" + text + "', expected left or right");
    }
}
