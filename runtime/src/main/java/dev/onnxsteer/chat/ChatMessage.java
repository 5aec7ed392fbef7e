package dev.onnxsteer.chat;

import java.util.Objects;

/** One turn of a conversation as chat templates see it: {@code message.role} and {@code message.content}. */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
