package dev.onnxsteer.passes;

/**
 * What one {@link Pass} run did: whether the model changed, and a short line saying what changed
 * (for logs and for a runner that reports which pass touched what).
 */
public record PassResult(boolean modified, String description) {
    public static PassResult changed(String description) {
        return new PassResult(true, description);
    }

    public static PassResult unchanged(String why) {
        return new PassResult(false, why);
    }
}
