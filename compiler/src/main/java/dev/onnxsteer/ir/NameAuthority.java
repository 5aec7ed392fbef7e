package dev.onnxsteer.ir;

import java.util.HashSet;
import java.util.Set;

/**
 * Hands out names that no value or node in the model has yet. Shared by a model's main graph and
 * all its subgraphs, and seeded with every name read from the file, so a new name never collides.
 */
public final class NameAuthority {
    private final Set<String> taken = new HashSet<>();
    private final Set<String> reserved = new HashSet<>();

    /**
     * Records a name as used by a value or node. Returns false if something already uses it; a
     * name handed out by {@link #fresh} and not yet used can be registered once.
     */
    public boolean register(String name) {
        if (name.isEmpty()) {
            return true;
        }
        if (reserved.remove(name)) {
            taken.add(name);
            return true;
        }
        return taken.add(name);
    }

    public boolean isTaken(String name) {
        return taken.contains(name) || reserved.contains(name);
    }

    /**
     * {@code hint} itself when free, else {@code hint_1}, {@code hint_2}, ...; the result is
     * reserved, so it is never handed out twice, until a value or node registers it.
     */
    public String fresh(String hint) {
        String base = hint.isEmpty() ? "v" : hint;
        String name = base;
        for (int i = 1; isTaken(name); i++) {
            name = base + "_" + i;
        }
        reserved.add(name);
        return name;
    }
}
