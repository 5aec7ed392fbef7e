package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
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

    @Test
    void malformedByteRunsComeOutAsTheHuggingFaceDecoderHasThem() {
        try (Tokenizer tokenizer = Tokenizer.load(TestModels.stories260K())) {
            long[] whole = Tokenizer.concat(new long[] {1}, Tokenizer.boxed(ByteFallbackText.IDS));
            assertEquals(ByteFallbackText.TEXT, tokenizer.decode(whole, true), "the hand-written text is HF's");
            StreamDecoder decoder = tokenizer.streamDecoder(new long[] {1});
            List<String> pieces = new ArrayList<>();
            for (long id : ByteFallbackText.IDS) {
                pieces.add(decoder.push(id));
            }
            pieces.add(decoder.flush());
            // a malformed run streams at once; a valid or unfinished one waits for the token that ends the run
            assertEquals(List.of("we", "9", "\uFFFD", "ked", "\uFFFD", "ould", "", "\uFFFD\uFFFD", "ked", "", "",
                    "\u00E9ked", "", "", "\uFFFD\uFFFD"), pieces);
            assertEquals(ByteFallbackText.TEXT, decoder.text());
        }
    }

    @Test
    void randomByteHeavySequencesStreamExactlyTheWholeDecode() {
        try (Tokenizer tokenizer = Tokenizer.load(TestModels.stories260K())) {
            Random random = new Random(11);
            for (int trial = 0; trial < 300; trial++) {
                long[] prompt = tokenizer.encode(trial % 2 == 0 ? "Once upon" : "A cat", true);
                long[] generated = new long[1 + random.nextInt(60)];
                for (int i = 0; i < generated.length; i++) {
                    // a third are high bytes (continuations and lead bytes), the rest any token but BOS/EOS
                    generated[i] = random.nextInt(3) == 0 ? 3 + 0x80 + random.nextInt(128) : 3 + random.nextInt(509);
                }
                StreamDecoder decoder = tokenizer.streamDecoder(prompt);
                StringBuilder streamed = new StringBuilder();
                for (long id : generated) {
                    streamed.append(decoder.push(id));
                }
                streamed.append(decoder.flush());
                String promptText = tokenizer.decode(prompt, true);
                String whole = tokenizer.decode(Tokenizer.concat(prompt, Tokenizer.boxed(generated)), true);
                assertTrue(whole.startsWith(promptText), Arrays.toString(generated));
                assertEquals(whole.substring(promptText.length()), streamed.toString(), Arrays.toString(generated));
                assertEquals(streamed.toString(), decoder.text());
            }
        }
    }
}
