package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestModels;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Streaming decode on the real stories260K SentencePiece vocabulary, past the point where context settles. */
class StreamDecoderTest {
    @Test
    void piecesOfALongTextWithByteFallbackAddUpToTheWholeDecode() {
        try (Tokenizer tokenizer = Tokenizer.load(TestModels.stories260K())) {
            String text = "Once upon a time, héllo ✓ 日本 and a little dog named Spot said \"hi!\"\n\tThe end. ".repeat(4);
            long[] ids = tokenizer.encode(text, true);
            assertTrue(ids.length > 100, "long enough to settle the context many times: " + ids.length);
            int split = 6;
            long[] prompt = Arrays.copyOf(ids, split);
            StreamDecoder decoder = tokenizer.streamDecoder(prompt);
            StringBuilder streamed = new StringBuilder();
            for (int i = split; i < ids.length; i++) {
                String piece = decoder.push(ids[i]);
                assertTrue(!piece.contains("\uFFFD"), "no half characters are emitted: '" + piece + "'");
                streamed.append(piece);
            }
            streamed.append(decoder.flush());
            String whole = tokenizer.decode(ids, true);
            String promptText = tokenizer.decode(prompt, true);
            assertEquals(whole.substring(promptText.length()), streamed.toString());
            assertEquals(streamed.toString(), decoder.text());
        }
    }
}
