package dev.onnxsteer.ir;

/**
 * One dimension of a tensor shape: a fixed size, a named symbolic size ("batch"), or unknown.
 */
public record Dim(Long value, String param) {
    private static final Dim UNKNOWN = new Dim(null, null);

    public static Dim of(long value) {
        return new Dim(value, null);
    }

    public static Dim param(String name) {
        return new Dim(null, name);
    }

    public static Dim unknown() {
        return UNKNOWN;
    }

    public boolean isFixed() {
        return value != null;
    }

    @Override
    public String toString() {
        return value != null ? value.toString() : param != null ? param : "?";
    }
}
