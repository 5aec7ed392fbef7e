package dev.onnxsteer.chat;

import dev.onnxsteer.SteerException;

/**
 * A chat template that cannot be parsed, or that refused a conversation ({@code raise_exception},
 * as Hugging Face templates do for roles they do not support).
 */
public class ChatTemplateException extends SteerException {
    public ChatTemplateException(String message) {
        super(message);
    }
}
