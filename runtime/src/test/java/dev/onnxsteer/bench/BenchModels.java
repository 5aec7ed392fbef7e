package dev.onnxsteer.bench;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.fixtures.Gpt2Sizes;
import dev.onnxsteer.fixtures.LlamaSizes;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufValueType;
import dev.onnxsteer.importer.ArchitectureFixtures;
import dev.onnxsteer.io.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Generated benchmark models of about 100M parameters (seeded random weights, so the figures are
 * about speed, never text): a Llama and a GPT-2 laid out like the fixtures ({@link Fixtures}),
 * Optimum-style inputs with KV cache, weights in {@code model.onnx.data}, {@code config.json} and
 * a byte-level {@code tokenizer.json} whose size is the model's vocabulary. Each is written once
 * and reused: under {@code runtime/target/bench-models/} (or {@code -Dbench.models=DIR}), as
 * {@code <root>/<name>/}, complete when its {@code .sizes} stamp names the sizes it was made from.
 * Writing one takes a few seconds (the weights are streamed to disk, never held on the heap).
 *
 * <p>Use from any benchmark or test in the runtime or cli modules:
 * {@code Path dir = BenchModels.llama();} then open {@code dir.resolve("model.onnx")}.
 * Write both from the command line with {@code mvn -B -q -DskipTests -Dbench=runtime
 * -Dbench.main=dev.onnxsteer.bench.BenchModels -pl runtime -am verify}.
 */
public final class BenchModels {
    /** Llama: 12 layers, hidden 768, 12 heads, 4 KV heads, FFN 2048, vocab 32000: 125M parameters (100M per token). */
    public static final LlamaSizes LLAMA = LlamaSizes.of(12, 768, 12, 4, 2048, 32000, 2048, 20250701L);
    /** GPT-2: 12 layers, hidden 768, 12 heads, inner 3072, vocab 32000, 1024 positions: 111M parameters. */
    public static final Gpt2Sizes GPT2 = Gpt2Sizes.of(12, 768, 12, 3072, 32000, 1024, 20250702L);
    /** {@link #LLAMA} with hidden 1536 and FFN 4096 (same graph, 4x the layer weights): 400M parameters. */
    public static final LlamaSizes LLAMA_4X = LlamaSizes.of(12, 1536, 12, 4, 4096, 32000, 2048, 20250703L);

    /**
     * The 76M Llama GGUF ({@link #llama76mGguf}): 6 layers, hidden 768, 12 heads of 64, 4 KV heads, FFN 1280,
     * vocab 32000: 76.3M parameters (49.2M of them the embedding and LM head, 51.7M multiply-adds per token).
     */
    public static final ArchitectureFixtures.Sizes LLAMA_76M = new ArchitectureFixtures.Sizes(6, 768, 12, 4, 1280);
    /** The vocabulary size of the generated GGUF Llamas ({@link #paddedVocabulary}). */
    public static final int GGUF_VOCAB = 32000;
    /** The files of {@link #llama76mGguf}: F32 and the block types the fixture quantiser writes whose rows fit (768 and 1280). */
    public static final List<GgmlType> LLAMA_76M_TYPES = List.of(GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K);
    /**
     * The 480M Llama GGUF ({@link #llama480mGguf}): TinyLlama 1.1B's widths with 8 of its 22 layers (hidden 2048,
     * 32 heads of 64, 4 KV heads, FFN 5632, vocab 32000): 483M parameters (65.5M of them the embedding), 418M
     * multiply-adds per token, so that each projection is large enough for its kernel, not the per-operator cost
     * around it, to set the decode speed.
     */
    public static final ArchitectureFixtures.Sizes LLAMA_480M = new ArchitectureFixtures.Sizes(8, 2048, 32, 4, 5632);
    /** The files of {@link #llama480mGguf}: the quantised ones only (an F32 file would be 1.9 GB). */
    public static final List<GgmlType> LLAMA_480M_TYPES = List.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K);

    public static final String STAMP = ".sizes";

    private BenchModels() {}

    /** The directory that holds the generated models: {@code -Dbench.models}, else runtime/target/bench-models. */
    public static Path root() {
        String configured = System.getProperty("bench.models");
        return configured != null ? Path.of(configured) : TestPaths.root().resolve("runtime/target/bench-models");
    }

    /** The ~100M Llama ({@link #LLAMA}), written on first use. */
    public static Path llama() {
        return llama("llama-100m", LLAMA);
    }

    /** {@link #llama()}'s weights in the onnxruntime-genai builder layout (GroupQueryAttention with fused rotary, fused norms), written on first use. */
    public static Path llamaGenai() {
        return cached(root().resolve("llama-100m-genai"), "genai " + LLAMA, dir -> Fixtures.writeGenaiLlama(LLAMA, dir));
    }

    /** The ~100M GPT-2 with biases ({@link #GPT2}), written on first use. */
    public static Path gpt2() {
        return gpt2("gpt2-100m", GPT2);
    }

    /** A Llama of {@code sizes} as {@code <root>/<name>}, written unless already there with these sizes. */
    public static Path llama(String name, LlamaSizes sizes) {
        return cached(root().resolve(name), sizes.toString(), dir -> Fixtures.writeLlama(sizes, dir));
    }

    /** A GPT-2 of {@code sizes} as {@code <root>/<name>}, written unless already there with these sizes. */
    public static Path gpt2(String name, Gpt2Sizes sizes) {
        return cached(root().resolve(name), sizes.toString(), dir -> Fixtures.writeGpt2(sizes, dir));
    }

    /**
     * The seeded 76M Llama ({@link #LLAMA_76M}) as a GGUF of {@code type} (one of {@link #LLAMA_76M_TYPES}), written by
     * the importer tests' {@link ArchitectureFixtures} (projections and LM head in {@code type}, embedding and norms
     * F32) with {@link #paddedVocabulary}; all three files are written together on first use, under
     * {@code <root>/llama-76m-gguf/llama-76m-<type>.gguf}.
     */
    public static Path llama76mGguf(GgmlType type) {
        return llamaGguf("llama-76m", LLAMA_76M, LLAMA_76M_TYPES, type);
    }

    /** The seeded 480M Llama ({@link #LLAMA_480M}) as a GGUF of {@code type}, written as {@link #llama76mGguf} writes its files. */
    public static Path llama480mGguf(GgmlType type) {
        return llamaGguf("llama-480m", LLAMA_480M, LLAMA_480M_TYPES, type);
    }

    /** {@code <root>/<name>-gguf/<name>-<type>.gguf}, all {@code types} written together on first use. */
    private static Path llamaGguf(String name, ArchitectureFixtures.Sizes sizes, List<GgmlType> types, GgmlType type) {
        if (!types.contains(type)) {
            throw new IllegalArgumentException(name + " is written as one of " + types + ", not " + type);
        }
        String key = "gguf " + sizes + " vocab " + GGUF_VOCAB + " " + types;
        Path dir = cached(root().resolve(name + "-gguf"), key, target -> {
            Map<String, GgufValue> tokenizer = paddedVocabulary(GGUF_VOCAB);
            for (GgmlType t : types) {
                ArchitectureFixtures.write("llama", target.resolve(name + "-" + t.name() + ".gguf"), t, tokenizer, sizes);
            }
        });
        return dir.resolve(name + "-" + type.name() + ".gguf");
    }

    /**
     * stories260K's SentencePiece vocabulary (512 pieces: specials, the 256 byte tokens, merges) with pieces
     * {@code ▁v00512 ...} appended up to {@code size}, scored below every real piece so the tokenizer never
     * prefers them: llama.cpp and our importer read it as the real vocabulary it extends, and the LM head has
     * the row count of a 32000-token model.
     */
    static Map<String, GgufValue> paddedVocabulary(int size) {
        Map<String, GgufValue> tokenizer = new LinkedHashMap<>();
        try (GgufFile stories = GgufFile.open(TestPaths.sharedModel("stories260K/stories260K.gguf"))) {
            stories.metadata().asMap().forEach((key, value) -> {
                if (key.startsWith("tokenizer.")) {
                    tokenizer.put(key, value);
                }
            });
        }
        List<GgufValue> tokens = new ArrayList<>(((GgufValue.Array) tokenizer.get("tokenizer.ggml.tokens")).elements());
        List<GgufValue> scores = new ArrayList<>(((GgufValue.Array) tokenizer.get("tokenizer.ggml.scores")).elements());
        List<GgufValue> types = new ArrayList<>(((GgufValue.Array) tokenizer.get("tokenizer.ggml.token_type")).elements());
        double lowest = scores.stream().mapToDouble(v -> ((GgufValue.Real) v).value()).min().orElse(0);
        for (int id = tokens.size(); id < size; id++) {
            tokens.add(new GgufValue.Str(String.format(Locale.ROOT, "\u2581v%05d", id)));
            scores.add(new GgufValue.Real(GgufValueType.FLOAT32, lowest - 1));
            types.add(new GgufValue.Int(GgufValueType.INT32, 1)); // normal piece
        }
        tokenizer.put("tokenizer.ggml.tokens", new GgufValue.Array(GgufValueType.STRING, tokens));
        tokenizer.put("tokenizer.ggml.scores", new GgufValue.Array(GgufValueType.FLOAT32, scores));
        tokenizer.put("tokenizer.ggml.token_type", new GgufValue.Array(GgufValueType.INT32, types));
        return tokenizer;
    }

    /** Bytes of the files of a model directory (the weight file dominates). */
    public static long bytes(Path dir) {
        try (var files = Files.list(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    /**
     * {@code dir} when its stamp says {@code key}; otherwise writes the model into a sibling temp
     * directory, stamps it, and renames it into place (replacing a stale or partial one), so a
     * crash never leaves a directory that looks complete.
     */
    private static synchronized Path cached(Path dir, String key, Consumer<Path> write) {
        if (isComplete(dir, key)) {
            return dir;
        }
        try {
            Files.createDirectories(dir.getParent());
            Path temp = Files.createTempDirectory(dir.getParent(), "." + dir.getFileName() + ".");
            try {
                write.accept(temp);
                Files.writeString(temp.resolve(STAMP), key + "\n");
                if (Files.getFileStore(temp).supportsFileAttributeView("posix")) {
                    Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rwxr-xr-x"));
                }
                if (Files.exists(dir)) {
                    AtomicFiles.deleteTree(dir);
                }
                Files.move(temp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException e) {
                // another process finished the same model first
                if (!isComplete(dir, key)) {
                    throw e;
                }
            } finally {
                if (Files.exists(temp)) {
                    AtomicFiles.deleteTree(temp);
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write benchmark model " + dir + ": " + e.getMessage(), e);
        }
    }

    private static boolean isComplete(Path dir, String key) {
        try {
            Path stamp = dir.resolve(STAMP);
            return Files.isRegularFile(stamp) && Files.readString(stamp).strip().equals(key);
        } catch (IOException e) {
            return false;
        }
    }

    /** Writes (or finds) the benchmark models and prints their directories, sizes and write times. */
    public static void main(String[] args) {
        for (String name : args.length > 0 ? args : new String[] {"llama", "gpt2"}) {
            long t0 = System.nanoTime();
            Path dir = switch (name) {
                case "llama" -> llama();
                case "gpt2" -> gpt2();
                case "llama4x" -> llama("llama-400m", LLAMA_4X);
                case "llama-genai" -> llamaGenai();
                case "llama76m-gguf" -> llama76mGguf(GgmlType.F32).getParent();
                default -> throw new IllegalArgumentException("unknown bench model " + name
                        + ", expected one of [llama, gpt2, llama4x, llama-genai, llama76m-gguf]");
            };
            System.out.printf("%s: %s, %.1f MB, ready in %.1f s%n", name, dir, bytes(dir) / 1e6,
                    (System.nanoTime() - t0) / 1e9);
        }
    }
}
