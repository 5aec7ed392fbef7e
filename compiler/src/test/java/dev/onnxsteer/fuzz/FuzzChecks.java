package dev.onnxsteer.fuzz;

import dev.onnxsteer.BadInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What every fuzz target asserts: the reader either returns, or refuses with a {@link BadInputException} whose
 * message is one line of printable characters of bounded length. Any other exception (an index out of
 * bounds, an overflow, a NullPointerException, a library's own error) escapes and is a finding.
 */
public final class FuzzChecks {
    /** Longest message a refusal may carry: values from the file are cut, so a long one means raw bytes leaked. */
    public static final int MAX_MESSAGE = 1000;

    private FuzzChecks() {}

    /**
     * Runs {@code read} of {@code file}, accepting success or a well-formed refusal that begins with the file's
     * name, as every bad-file message does ({@code FILE: WHAT (expected X, found Y)}, {@code FILE line N: ...}).
     */
    public static void acceptsOrRefuses(Path file, Runnable read) {
        try {
            read.run();
        } catch (BadInputException e) {
            checkMessage(e.getMessage());
            if (!e.getMessage().startsWith(file.toString())) {
                throw new AssertionError("a refusal that does not begin with the file " + file + ": "
                        + e.getMessage().replaceAll("\\p{C}", "?"));
            }
        }
    }

    /** A refusal's message: non-empty, one line, printable, bounded. */
    public static void checkMessage(String message) {
        if (message == null || message.isBlank()) {
            throw new AssertionError("a refusal without a message");
        }
        if (message.length() > MAX_MESSAGE) {
            throw new AssertionError("a refusal of " + message.length() + " characters: " + message.substring(0, 200));
        }
        message.codePoints().forEach(cp -> {
            int type = Character.getType(cp);
            if (type == Character.CONTROL || type == Character.SURROGATE || type == Character.UNASSIGNED
                    || type == Character.FORMAT || type == Character.PRIVATE_USE || cp == 0xFFFD) {
                throw new AssertionError(String.format("a refusal with unprintable U+%04X: %s", cp,
                        message.replaceAll("\\p{C}", "?")));
            }
        });
    }

    /**
     * A work directory under the module's {@code target/}, the same one every run: fuzz targets write their
     * input there so that nothing is left in the system temp directory however a run ends.
     */
    public static Path workDirectory(String name) {
        Path dir = Path.of("target", "fuzz-work", name).toAbsolutePath();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }

    /** Writes {@code bytes} to {@code dir/name} (replacing it) and returns the path. */
    public static Path write(Path dir, String name, byte[] bytes) {
        Path file = dir.resolve(name);
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
