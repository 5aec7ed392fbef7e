package dev.onnxsteer.importer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A reference SentencePiece BPE encoder written from the algorithm (as llama.cpp's SPM tokenizer runs it),
 * independent of the tokenizer.json under test: prefix "▁", spaces to "▁", start from single code points,
 * repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the highest score
 * (leftmost on ties), then map pieces to ids, spelling unknown ones as {@code <0xXX>} byte tokens.
 */
final class SentencePieceReference {
    private SentencePieceReference() {}

    static long[] encode(String text, List<String> vocab, float[] scores) {
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < vocab.size(); i++) {
            ids.putIfAbsent(vocab.get(i), i);
        }
        String normalized = "\u2581" + text.replace(" ", "\u2581");
        List<String> symbols = new ArrayList<>();
        normalized.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
        while (true) {
            int best = -1;
            float bestScore = Float.NEGATIVE_INFINITY;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer id = ids.get(symbols.get(i) + symbols.get(i + 1));
                if (id != null && scores[id] > bestScore) {
                    best = i;
                    bestScore = scores[id];
                }
            }
            if (best < 0) {
                break;
            }
            symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
        }
        List<Long> out = new ArrayList<>();
        for (String symbol : symbols) {
            Integer id = ids.get(symbol);
            if (id != null) {
                out.add((long) id);
            } else {
                for (byte b : symbol.getBytes(StandardCharsets.UTF_8)) {
                    out.add((long) ids.get(String.format("<0x%02X>", b & 0xff)));
                }
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }
}
