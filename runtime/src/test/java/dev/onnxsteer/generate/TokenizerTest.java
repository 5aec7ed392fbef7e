package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {
    /**
     * A llama-style SentencePiece BPE with byte fallback: "▁" spaces, a BOS added by the
     * post-processor, and "€" only as the three byte pieces E2 82 AC.
     */
    static final String SENTENCEPIECE = """
            {
              "version": "1.0",
              "truncation": null, "padding": null,
              "added_tokens": [
                {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
              ],
              "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
              "pre_tokenizer": null,
              "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
              "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0xE2>": 3, "<0x82>": 4, "<0xAC>": 5, "▁": 6,
                          "▁a": 7, "a": 8, "b": 9, "▁b": 10},
                "merges": ["▁ a", "▁ b"]}
            }
            """;

    static Tokenizer sentencePiece(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, SENTENCEPIECE);
        return Tokenizer.load(file);
    }

    @Test
    void encodesAndDecodesWithExplicitSpecialTokenChoices(@TempDir Path dir) throws IOException {
        try (Tokenizer tok = sentencePiece(dir)) {
            assertArrayEquals(new long[] {1, 7, 6, 3, 4, 5, 9}, tok.encode("a €b", true));
            assertArrayEquals(new long[] {7, 6, 3, 4, 5, 9}, tok.encode("a €b", false));
            assertEquals("a €b", tok.decode(new long[] {1, 7, 6, 3, 4, 5, 9}, true));
            assertEquals("<s> a €b", tok.decode(new long[] {1, 7, 6, 3, 4, 5, 9}, false));
            assertEquals(11, tok.vocabSize());
            assertEquals(OptionalLong.of(1), tok.bosTokenId());
            assertEquals(List.of(2L), tok.eosTokenIds());
        }
    }

    @Test
    void streamingEmitsSentencePieceSpacesAndWholeByteFallbackCharacters(@TempDir Path dir) throws IOException {
        try (Tokenizer tok = sentencePiece(dir)) {
            // generation right after BOS: the first piece has no leading space, like a full decode
            StreamDecoder fromBos = tok.streamDecoder(new long[] {1});
            List<String> pieces = new ArrayList<>();
            for (long id : new long[] {7, 6, 3, 4, 5, 10}) {
                pieces.add(fromBos.push(id));
            }
            // "€" waits for the token after its three bytes: one more malformed byte would turn the whole run into U+FFFDs
            assertEquals(List.of("a", " ", "", "", "", "€ b"), pieces);
            assertEquals(tok.decode(new long[] {7, 6, 3, 4, 5, 10}, true), String.join("", pieces));

            // after a prompt, a "▁b" token keeps its space (decoding it alone would strip it)
            StreamDecoder afterPrompt = tok.streamDecoder(new long[] {1, 7});
            assertEquals(" b", afterPrompt.push(10));
            assertEquals("b", afterPrompt.push(9));
            assertEquals(" bb", afterPrompt.text());

            // an incomplete character at the end comes out on flush
            StreamDecoder cut = tok.streamDecoder(new long[] {1, 7});
            assertEquals("", cut.push(3));
            assertEquals("\uFFFD", cut.flush().substring(0, 1));
        }
    }

    @Test
    void bosAndEosComeFromTheModelConfigFirst(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), SENTENCEPIECE);
        Files.writeString(dir.resolve("config.json"), "{\"bos_token_id\": 6, \"eos_token_id\": [2, 9], \"vocab_size\": 11,"
                + " \"max_position_embeddings\": 64}");
        ModelConfig config = ModelConfig.load(dir);
        assertEquals(List.of(2L, 9L), config.eosTokenIds());
        assertEquals(64, config.maxPositions().getAsInt());
        try (Tokenizer tok = Tokenizer.load(dir, config)) {
            assertEquals(OptionalLong.of(6), tok.bosTokenId());
            assertEquals(List.of(2L, 9L), tok.eosTokenIds());
        }
    }

    @Test
    void gpt2TokenizerOfTheSharedModel() {
        try (Tokenizer tok = Tokenizer.load(TinyGpt2.dir())) {
            assertEquals(50295, tok.vocabSize());
            assertEquals(List.of(50256L), tok.eosTokenIds());
            String text = "Hello world, this is a long enough text. ".repeat(100);
            long[] ids = tok.encode(text, true);
            assertTrue(ids.length > 512, "no silent truncation to 512: " + ids.length);
            assertEquals(text, tok.decode(ids, true));
        }
    }

    @Test
    void missingTokenizerIsABadModel(@TempDir Path dir) {
        BadModelException e = assertThrows(BadModelException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    }
}
