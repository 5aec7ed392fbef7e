package dev.onnxsteer.io;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.onnxsteer.BadInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reads JSON that came from a file (config.json, tokenizer.json, a safetensors header, a dataset line) strictly:
 * one value and nothing after it, no duplicate keys, bounded nesting; and turns Jackson's errors into
 * {@link FileProblem} messages with a line and column, never Jackson's own wording about its sources.
 */
public final class JsonFiles {
    /** Deeper than any config or tokenizer nests; a corrupted file of brackets stops here, not at the stack's end. */
    public static final int MAX_NESTING = 64;
    private static final ObjectMapper STRICT = JsonMapper.builder(JsonFactory.builder()
                    .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING).build())
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private JsonFiles() {}

    /** The JSON in {@code file}; {@link BadInputException} naming the file for a missing file or malformed JSON. */
    public static JsonNode read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new BadInputException(FileProblem.message(file, "does not exist"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return parse(bytes, file.toString());
    }

    /**
     * Parses {@code json}, which must be UTF-8 (RFC 8259; Jackson would also guess UTF-16 or UTF-32 from zero
     * bytes, so a corrupted file could be read as another encoding); {@code origin} names it in the message.
     */
    public static JsonNode parse(byte[] json, String origin) {
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(json);
        CharBuffer text = CharBuffer.allocate(json.length);
        CoderResult result = utf8.decode(in, text, true);
        if (result.isError()) {
            throw new BadInputException(FileProblem.message(origin, "is not UTF-8 text", "UTF-8",
                    String.format("byte 0x%02x at offset %d", json[in.position()] & 0xff, in.position())));
        }
        return parse(text.flip().toString(), origin);
    }

    /** Parses one string of JSON (already decoded text, such as one line of a dataset). */
    public static JsonNode parse(String json, String origin) {
        try {
            JsonNode node = STRICT.readTree(json);
            if (node == null || node.isMissingNode()) {
                throw new BadInputException(FileProblem.message(origin, "holds no JSON", "a JSON value", "nothing"));
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new BadInputException(FileProblem.message(origin, describe(e)), e);
        }
    }

    /** Jackson's own description of the problem (without its source excerpt), and where it is. */
    public static String describe(JsonProcessingException e) {
        String what = e.getOriginalMessage() == null ? "malformed JSON" : e.getOriginalMessage();
        // two of Jackson's messages name its own classes and settings; say what they mean instead
        if (what.startsWith("Trailing token")) {
            what = "something follows the JSON value";
        } else if (e instanceof StreamConstraintsException && what.contains("nesting depth")) {
            what = "nested deeper than " + MAX_NESTING + " levels";
        }
        JsonLocation at = e.getLocation();
        String where = at == null || at.getLineNr() < 0 ? "" : " at line " + at.getLineNr() + " column " + at.getColumnNr();
        return "not valid JSON" + where + ": " + FileProblem.printable(what.replace('\n', ' '), 160);
    }
}
