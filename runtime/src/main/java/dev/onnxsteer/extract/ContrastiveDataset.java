package dev.onnxsteer.extract;

import dev.onnxsteer.BadInputException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.io.JsonFiles;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.function.Consumer;

/**
 * Contrastive pairs, either given in memory or read from a JSON Lines file. Each line of the file is an
 * object with string fields {@code positive} and {@code negative} and an optional {@code prompt} that is
 * prefixed to both as is (include a trailing space if the sides should be separate words); other fields
 * are ignored, blank lines are skipped. {@link #read} checks every line up front and keeps only the
 * count; {@link #forEach} reads the file again, so a dataset of any size is never held in memory.
 */
public final class ContrastiveDataset {
    private final Path file;
    private final List<ContrastivePair> pairs;
    private final int size;
    private final BitSet selected;

    private ContrastiveDataset(Path file, List<ContrastivePair> pairs, int size, BitSet selected) {
        this.file = file;
        this.pairs = pairs;
        this.size = size;
        this.selected = selected;
    }

    /** A dataset held in memory (e.g. one pair from the command line). */
    public static ContrastiveDataset of(List<ContrastivePair> pairs) {
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("the dataset has no pairs");
        }
        return new ContrastiveDataset(null, List.copyOf(pairs), pairs.size(), null);
    }

    /**
     * Checks a JSON Lines file and counts its pairs.
     *
     * @throws BadInputException naming the file and line for a missing file, a malformed line, a
     *     missing or empty side, or a file without pairs
     */
    public static ContrastiveDataset read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new BadInputException(FileProblem.message(file, "does not exist or is not a file", "a dataset file",
                    "nothing to read"));
        }
        int[] count = {0};
        scan(file, pair -> count[0]++);
        if (count[0] == 0) {
            throw new BadInputException(FileProblem.message(file, "has no pairs",
                    "JSON Lines like {\"positive\": \"...\", \"negative\": \"...\"}", "none"));
        }
        return new ContrastiveDataset(file, null, count[0], null);
    }

    /** The number of pairs. */
    public int size() {
        return size;
    }

    /** The file the pairs are read from; null for a dataset in memory. */
    public Path file() {
        return file;
    }

    /** Where the pairs come from, for messages. */
    public String describe() {
        return file != null ? file.toString() : "command line";
    }

    /**
     * The pairs whose 0-based indices (in file order among all pairs) are set in {@code indices}.
     *
     * @throws IllegalArgumentException when no index selects a pair
     */
    public ContrastiveDataset subset(BitSet indices) {
        BitSet chosen = (BitSet) indices.clone();
        chosen.clear(size, Math.max(size, chosen.length()));
        if (selected != null) {
            chosen.and(selected);
        }
        if (chosen.isEmpty()) {
            throw new IllegalArgumentException("the subset of " + describe() + " has no pairs");
        }
        return new ContrastiveDataset(file, pairs, chosen.cardinality(), chosen);
    }

    /** Calls {@code action} for each pair in order. */
    public void forEach(Consumer<ContrastivePair> action) {
        int[] index = {0};
        Consumer<ContrastivePair> filtered = pair -> {
            if (selected == null || selected.get(index[0])) {
                action.accept(pair);
            }
            index[0]++;
        };
        if (pairs != null) {
            pairs.forEach(filtered);
        } else {
            scan(file, filtered);
        }
    }

    /**
     * Reads the file line by line as bytes and decodes each line strictly, so invalid UTF-8 is reported with its
     * line and column rather than as the decoder's "Input length = 1", and is never replaced by U+FFFD.
     */
    private static void scan(Path file, Consumer<ContrastivePair> action) {
        String name = file.toString(); // the path as given, like every other bad-file message
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            int number = 0;
            boolean more = true;
            while (more) {
                int b = in.read();
                if (b != '\n' && b >= 0) {
                    bytes.write(b);
                    continue;
                }
                more = b >= 0;
                if (!more && bytes.size() == 0) {
                    break;
                }
                number++;
                String origin = name + " line " + number;
                String line = decode(utf8, bytes.toByteArray(), origin);
                bytes.reset();
                if (number == 1 && line.startsWith("\uFEFF")) {
                    line = line.substring(1);
                }
                if (line.isBlank()) {
                    continue;
                }
                action.accept(parse(line, origin));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read dataset " + file + ": " + e.getMessage(), e);
        }
    }

    private static String decode(CharsetDecoder utf8, byte[] line, String origin) {
        try {
            return utf8.decode(ByteBuffer.wrap(line)).toString();
        } catch (CharacterCodingException e) {
            int column = firstInvalid(utf8, line);
            throw new BadInputException(FileProblem.message(origin, "is not valid UTF-8", "UTF-8 text",
                    String.format("byte 0x%02x at column %d", line[column - 1] & 0xff, column)));
        }
    }

    /** The 1-based column of the first byte that does not decode. */
    private static int firstInvalid(CharsetDecoder utf8, byte[] line) {
        ByteBuffer in = ByteBuffer.wrap(line);
        utf8.reset();
        utf8.decode(in, CharBuffer.allocate(line.length + 1), true);
        return in.position() + 1;
    }

    /** One JSON Lines record. */
    static ContrastivePair parse(String line, String origin) {
        JsonNode node = JsonFiles.parse(line, origin);
        if (!node.isObject()) {
            throw new BadInputException(FileProblem.message(origin, "is not a JSON object",
                    "{\"positive\": \"...\", \"negative\": \"...\"}", node.getNodeType()));
        }
        String prompt = text(node, "prompt", origin, false);
        String positive = text(node, "positive", origin, true);
        String negative = text(node, "negative", origin, true);
        if (positive.equals(negative)) {
            throw new BadInputException(FileProblem.message(origin, "the positive and negative sides are identical, "
                    + "so the pair has no direction", "two different texts", FileProblem.printable(positive)));
        }
        String prefix = prompt == null ? "" : prompt;
        return new ContrastivePair(prefix + positive, prefix + negative, origin);
    }

    private static String text(JsonNode node, String field, String origin, boolean required) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            if (required) {
                throw new BadInputException(FileProblem.message(origin, "has no \"" + field + "\" field",
                        "a string", "nothing"));
            }
            return null;
        }
        if (!value.isTextual()) {
            throw new BadInputException(FileProblem.message(origin, "\"" + field + "\" is not a string", "a string",
                    value.getNodeType().name().toLowerCase(java.util.Locale.ROOT)));
        }
        if (required && value.asText().isEmpty()) {
            throw new BadInputException(FileProblem.message(origin, "the " + field + " side is empty",
                    "some text", "\"\""));
        }
        return value.asText();
    }
}
