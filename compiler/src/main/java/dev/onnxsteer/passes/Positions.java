package dev.onnxsteer.passes;

/**
 * Which token positions a steering acts on. Positions are the model's own (its {@code position_ids},
 * or past length + offset when it has none), so a KV-cached run and a full recompute steer the same
 * tokens. {@code prompt} and {@code generated} compare the position with the row's prompt length,
 * which a runtime feeds as {@value dev.onnxsteer.io.CompiledModelAbi#PROMPT_LENGTH_INPUT} ({@code [batch]} int64); its default -1
 * means "not given", and then the tokens of a run with an empty cache count as prompt and the
 * tokens of a run with a cache as generated (right for cached generation, which is what a runtime
 * that does not know the input does).
 *
 * @param kind which rule
 * @param n    the N of {@code first:N} and {@code from:N}; 0 otherwise
 */
public record Positions(Kind kind, long n) {
    public static final Positions ALL = new Positions(Kind.ALL, 0);

    public enum Kind { ALL, PROMPT, GENERATED, FIRST, FROM }

    public Positions {
        if (kind == Kind.FIRST && n <= 0) {
            throw new IllegalArgumentException("positions first:" + n + " steer no token; expected first:N with N >= 1");
        }
        if (kind == Kind.FROM && n < 0) {
            throw new IllegalArgumentException("positions from:" + n + " is negative; expected from:N with N >= 0");
        }
        if ((kind != Kind.FIRST && kind != Kind.FROM) && n != 0) {
            throw new IllegalArgumentException(kind + " takes no N");
        }
    }

    public static Positions first(long n) {
        return new Positions(Kind.FIRST, n);
    }

    public static Positions from(long n) {
        return new Positions(Kind.FROM, n);
    }

    /** Parses {@code all}, {@code prompt}, {@code generated}, {@code first:N}, {@code from:N}. */
    public static Positions parse(String text) {
        String t = text.trim();
        switch (t) {
            case "all":
                return ALL;
            case "prompt":
                return new Positions(Kind.PROMPT, 0);
            case "generated":
                return new Positions(Kind.GENERATED, 0);
            default:
                break;
        }
        int colon = t.indexOf(':');
        String head = colon < 0 ? t : t.substring(0, colon);
        if (colon > 0 && (head.equals("first") || head.equals("from"))) {
            long n;
            try {
                n = Long.parseLong(t.substring(colon + 1).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("positions '" + text + "': N must be a whole number, as in "
                        + head + ":4");
            }
            return new Positions(head.equals("first") ? Kind.FIRST : Kind.FROM, n);
        }
        throw new IllegalArgumentException("unknown positions '" + text
                + "', expected one of all, prompt, generated, first:N, from:N");
    }

    public boolean isAll() {
        return kind == Kind.ALL;
    }

    /** Whether the rule needs the prompt length ({@code prompt}, {@code generated}). */
    public boolean needsPromptLength() {
        return kind == Kind.PROMPT || kind == Kind.GENERATED;
    }

    /**
     * Whether a token at {@code position} is steered, given the row's prompt length (the same rule
     * the graph computes, for independent checks).
     */
    public boolean steers(long position, long promptLength) {
        return switch (kind) {
            case ALL -> true;
            case PROMPT -> position < promptLength;
            case GENERATED -> position >= promptLength;
            case FIRST -> position < n;
            case FROM -> position >= n;
        };
    }

    public String label() {
        return switch (kind) {
            case ALL -> "all";
            case PROMPT -> "prompt";
            case GENERATED -> "generated";
            case FIRST -> "first:" + n;
            case FROM -> "from:" + n;
        };
    }

    @Override
    public String toString() {
        return label();
    }
}
