package dev.onnxsteer.generate;

/**
 * A generated id sequence on stories260K's vocabulary whose byte-fallback runs are malformed
 * UTF-8, and the text the Hugging Face decoder gives it, written out by hand from the rule in
 * {@link ByteFallback}: {@code ▁we 9 <0xAD> ked <0xAD> ould} (lone continuation bytes),
 * {@code <0x4E> <0x9A> ked} (an {@code N} that the following byte makes malformed, so the whole
 * run is two U+FFFDs), {@code <0xC3> <0xA9> ked} (a valid {@code é}), {@code <0xE2> <0x80>} (a
 * character still unfinished when generation ends).
 */
public final class ByteFallbackText {
    /** Byte token {@code <0xNN>} of stories260K: ids 3..258 are bytes 0x00..0xFF. */
    private static long b(int value) {
        return 3 + value;
    }

    private static final long WE = 382;
    private static final long NINE = 483;
    private static final long KED = 355;
    private static final long OULD = 389;

    public static final long[] IDS = {WE, NINE, b(0xAD), KED, b(0xAD), OULD, b(0x4E), b(0x9A), KED, b(0xC3), b(0xA9), KED,
            b(0xE2), b(0x80)};
    public static final String TEXT = "we9\uFFFDked\uFFFDould\uFFFD\uFFFDked\u00E9ked\uFFFD\uFFFD";

    private ByteFallbackText() {}
}
