package dev.onnxsteer.importer;

import dev.onnxsteer.gguf.GgufValue;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A byte-level BPE vocabulary of {@value #SIZE} tokens as a GGUF's {@code tokenizer.*} keys ({@code
 * tokenizer.ggml.model = gpt2}): the 256 byte symbols of GPT-2's bytes_to_unicode, merges learned here by
 * plain BPE training on {@link #CORPUS} (most frequent adjacent pair first, ties by the pair's text), and
 * three control tokens at the end. The same vocabulary serves every {@code tokenizer.ggml.pre}; only the
 * pre-tokenizer differs.
 */
final class ByteLevelVocabulary {
    static final int SIZE = 512;
    static final List<String> SPECIALS = List.of("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>");
    static final String CORPUS = """
            Once upon a time there was a little girl who lived in a village near the forest. She didn't like \
            the rain, but she'd always loved the sun. "I'll go out today," she said, and we've all heard \
            what happened next: they're still talking about it in 2024, 1999 and 31415 years from now! \
            The café served naïve crème brûlée for 3.50 euros; the résumé said 12,345 people came. \
            日本語のテキストも少し。 Ünïcödé and emoji 🙂 appear too. Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. \
            def main():\n    return x + y * 2\n\n\tindented\ttabs and    spaces   here.\r\n\
            THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG. the quick brown fox jumps over the lazy dog.
            """;

    private ByteLevelVocabulary() {}

    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n in byte order. */
    static String[] byteSymbols() {
        String[] symbols = new String[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = new String(Character.toChars(printable ? b : 256 + n++));
        }
        return symbols;
    }

    /** The tokenizer keys with {@code tokenizer.ggml.pre = pre}; BOS and EOS are the first two control tokens. */
    static Map<String, GgufValue> keys(String pre) {
        String[] bytes = byteSymbols();
        List<String> tokens = new ArrayList<>(List.of(bytes));
        List<String> merges = train(bytes, SIZE - 256 - SPECIALS.size());
        for (String merge : merges) {
            tokens.add(merge.replace(" ", ""));
        }
        tokens.addAll(SPECIALS);
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, TokenizerJson.TYPE_NORMAL);
        for (int i = tokens.size() - SPECIALS.size(); i < tokens.size(); i++) {
            types[i] = TokenizerJson.TYPE_CONTROL;
        }
        Map<String, GgufValue> keys = new LinkedHashMap<>();
        keys.put("tokenizer.ggml.model", GgufValue.string("gpt2"));
        keys.put("tokenizer.ggml.pre", GgufValue.string(pre));
        keys.put("tokenizer.ggml.tokens", GgufValue.stringArray(tokens));
        keys.put("tokenizer.ggml.token_type", GgufValue.int32Array(types));
        keys.put("tokenizer.ggml.merges", GgufValue.stringArray(merges));
        keys.put("tokenizer.ggml.bos_token_id", GgufValue.uint32(SIZE - 3));
        keys.put("tokenizer.ggml.eos_token_id", GgufValue.uint32(SIZE - 2));
        return keys;
    }

    /** {@code count} merges "left right", each pair's text distinct from every earlier token's. */
    private static List<String> train(String[] bytes, int count) {
        // words as GPT-2 splits them, each a list of byte symbols, with how often it occurs
        Pattern split = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                Pattern.UNICODE_CHARACTER_CLASS);
        Map<List<String>, Integer> words = new LinkedHashMap<>();
        Matcher m = split.matcher(CORPUS);
        while (m.find()) {
            List<String> symbols = new ArrayList<>();
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                symbols.add(bytes[b & 0xff]);
            }
            words.merge(symbols, 1, Integer::sum);
        }
        java.util.Set<String> known = new java.util.HashSet<>(List.of(bytes));
        List<String> merges = new ArrayList<>();
        while (merges.size() < count) {
            Map<String, Integer> pairs = new HashMap<>();
            words.forEach((symbols, n) -> {
                for (int i = 0; i + 1 < symbols.size(); i++) {
                    pairs.merge(symbols.get(i) + " " + symbols.get(i + 1), n, Integer::sum);
                }
            });
            String best = null;
            for (Map.Entry<String, Integer> e : pairs.entrySet()) {
                if (known.contains(e.getKey().replace(" ", ""))) {
                    continue;
                }
                if (best == null || e.getValue() > pairs.get(best) || (e.getValue().equals(pairs.get(best)) && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                }
            }
            if (best == null) {
                throw new IllegalStateException("the corpus has only " + merges.size() + " merges; " + count + " wanted");
            }
            merges.add(best);
            known.add(best.replace(" ", ""));
            String left = best.substring(0, best.indexOf(' '));
            String right = best.substring(best.indexOf(' ') + 1);
            Map<List<String>, Integer> merged = new LinkedHashMap<>();
            words.forEach((symbols, n) -> {
                List<String> out = new ArrayList<>();
                for (int i = 0; i < symbols.size(); i++) {
                    if (i + 1 < symbols.size() && symbols.get(i).equals(left) && symbols.get(i + 1).equals(right)) {
                        out.add(left + right);
                        i++;
                    } else {
                        out.add(symbols.get(i));
                    }
                }
                merged.merge(out, n, Integer::sum);
            });
            words = merged;
        }
        return merges;
    }
}
