package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.io.FileProblem;
import java.util.List;

/**
 * The byte-level pre-tokenizer a GGUF's {@code tokenizer.ggml.pre} names, as llama.cpp's {@code llama-vocab.cpp}
 * resolves the name and as Hugging Face's {@code tokenizer.json} for the same model family writes it: the
 * regexes that split text into words, applied one after another, each splitting the pieces of the one before
 * and keeping the text between matches as pieces too (HF {@code Split} with {@code Isolated}).
 *
 * @param regexes the splits in order; empty means GPT-2's own (HF's ByteLevel pre-tokenizer with {@code use_regex})
 * @param ignoreMerges a word that is a whole vocabulary entry is that token, without applying merges (Llama 3)
 * @param addsBos whether BOS is added when the file has no {@code tokenizer.ggml.add_bos_token}
 */
record PreTokenizer(String name, List<String> regexes, boolean ignoreMerges, boolean addsBos) {
    static final List<String> SUPPORTED = List.of("default", "gpt-2", "llama-bpe", "qwen2");

    private static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    private static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen 2's: Llama 3's with single digits. */
    private static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** The file's pre-tokenizer; absent, llama.cpp's {@code default}. */
    static PreTokenizer of(GgufMetadata md) {
        String name = md.findString("tokenizer.ggml.pre").orElse("default");
        return switch (name) {
            // llama.cpp's fallback: punctuation runs first, then GPT-2's words, then digits, then groups of three digits
            case "default" -> new PreTokenizer(name, List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"), false, false);
            case "gpt-2", "phi-2" -> new PreTokenizer(name, List.of(), false, false);
            case "llama-bpe", "llama3", "llama-v3" -> new PreTokenizer(name, List.of(LLAMA3), true, true);
            case "qwen2", "deepseek-r1-qwen" -> new PreTokenizer(name, List.of(QWEN2), false, false);
            default -> throw new BadModelException(FileProblem.message(md.source(), "tokenizer.ggml.pre names a pre-tokenizer the importer cannot reproduce",
                    String.join(", ", SUPPORTED) + " (or the llama.cpp aliases llama3, llama-v3, phi-2, deepseek-r1-qwen)", name));
        };
    }
}
