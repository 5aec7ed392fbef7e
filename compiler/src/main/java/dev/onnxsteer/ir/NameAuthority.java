package dev.onnxsteer.ir;

import java.util.HashSet;
import java.util.Set;

/**
 * Hands out names that no value or node in the model has yet. Shared by a model's main graph and
 * all its subgraphs, and seeded with every name read from the file, so a new name never collides.
 */
public final class NameAuthority {
    private final Set<String> taken = new HashSet<>();

    /** Records an existing name; returns false if it was already taken. */
    public boolean register(String name) {
        return name.isEmpty() || taken.add(name);
    }

    public boolean isTaken(String name) {
        return taken.contains(name);
    }

    /** {@code hint} itself when free, else {@code hint_1}, {@code hint_2}, ...; the result is registered. */
    public String fresh(String hint) {
        String base = hint.isEmpty() ? "v" : hint;
        String name = base;
        for (int i = 1; taken.contains(name); i++) {
            name = base + "_" + i;
        }
        taken.add(name);
        return name;
    }
}
