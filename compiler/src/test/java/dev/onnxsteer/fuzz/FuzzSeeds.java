package dev.onnxsteer.fuzz;

import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.fixtures.LlamaSizes;
import dev.onnxsteer.gguf.GgufBytes;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes the seed corpus of {@link ReaderFuzzTest}: one small valid file per reader, so that mutation starts
 * from inputs that reach deep into each reader. The seeds are committed (they carry the version that wrote
 * them, so they are not compared with a fresh run); rewrite them with {@code main}, run in {@code compiler/}
 * on the test class path. Findings go beside them under names that say what they found.
 */
public final class FuzzSeeds {
    static final Path INPUTS = Path.of("src/test/resources/dev/onnxsteer/fuzz/ReaderFuzzTestInputs");

    private FuzzSeeds() {}

    public static void main(String[] args) throws IOException {
        Path root = args.length > 0 ? Path.of(args[0]) : INPUTS;
        write(root);
    }

    /** Every seed, by path under the inputs directory. */
    static Map<String, byte[]> seeds() throws IOException {
        Map<String, byte[]> seeds = new TreeMap<>();
        Path scratch = Files.createTempDirectory("fuzz-seeds");
        try {
            Path onnx = scratch.resolve("model.onnx");
            ModelWriter.write(Fixtures.llama(LlamaSizes.of(1, 4, 2, 1, 8, 256, 32, 7), true), onnx);
            seeds.put("onnxModel/seed-llama-1-layer.onnx", Files.readAllBytes(onnx));

            Map<Integer, float[]> layers = new TreeMap<>();
            layers.put(1, new float[] {0.5f, -1.25f, 2f, 0f});
            layers.put(2, new float[] {-0.5f, 1f, 0.125f, 3f});
            SteeringVectors vectors = new SteeringVectors(4, layers, VectorMetadata.defaults().withMethod("mean")
                    .withExtra("activation_norm.1", "2.5").withExtra("activation_norm.2", "3"), "seed");
            Path gguf = scratch.resolve("v.gguf");
            VectorFiles.write(vectors, gguf);
            seeds.put("controlVector/seed-two-layers.gguf", Files.readAllBytes(gguf));
            Path safetensors = scratch.resolve("v.safetensors");
            VectorFiles.write(vectors, safetensors);
            seeds.put("safetensors/seed-two-layers.safetensors", Files.readAllBytes(safetensors));
        } finally {
            try (var files = Files.list(scratch)) {
                for (Path p : (Iterable<Path>) files::iterator) {
                    Files.delete(p);
                }
            }
            Files.delete(scratch);
        }
        seeds.put("gguf/seed-llama-config.gguf", llamaConfig());
        seeds.put("gguf/seed-tensor-types.gguf", new GgufBytes()
                .kvString("general.architecture", "test")
                .kvU32("general.alignment", 32)
                .kvF32("test.scale", 0.5f)
                .tensor("f32", new long[] {4}, 0, GgufBytes.f32(1, -2, 3.5f, 0))
                .tensor("f16", new long[] {2, 2}, 1, new byte[] {0, 0x3c, 0, (byte) 0xc0, 0, 0x38, 0, 0})
                .tensor("q8", new long[] {32}, 8, q8Block())
                .build());
        return seeds;
    }

    /** A llama GGUF with every key {@code LlamaConfig} reads and the embedding it measures, no other weights. */
    private static byte[] llamaConfig() {
        int vocab = 4;
        float[] embedding = new float[4 * vocab];
        for (int i = 0; i < embedding.length; i++) {
            embedding[i] = (i % 5) * 0.25f - 0.5f;
        }
        return new GgufBytes()
                .kvString("general.architecture", "llama")
                .kvU32("llama.embedding_length", 4)
                .kvU32("llama.block_count", 1)
                .kvU32("llama.attention.head_count", 2)
                .kvU32("llama.attention.head_count_kv", 1)
                .kvU32("llama.feed_forward_length", 8)
                .kvU32("llama.context_length", 32)
                .kvF32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .kvString("tokenizer.ggml.model", "llama")
                .kvRaw("tokenizer.ggml.tokens", 9, stringArray("<unk>", "<s>", "</s>", "a"))
                .kvU32("tokenizer.ggml.bos_token_id", 1)
                .kvU32("tokenizer.ggml.eos_token_id", 2)
                .tensor("token_embd.weight", new long[] {4, vocab}, 0, GgufBytes.f32(embedding))
                .build();
    }

    private static byte[] stringArray(String... values) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(GgufBytes.le(4).putInt(8).array());
        out.writeBytes(GgufBytes.le(8).putLong(values.length).array());
        for (String v : values) {
            GgufBytes.str(out, v);
        }
        return out.toByteArray();
    }

    /** One Q8_0 block: scale 1/64 as F16, then 32 signed quants. */
    private static byte[] q8Block() {
        byte[] block = new byte[34];
        block[0] = 0x00;
        block[1] = 0x24; // F16 0x2400 = 1/64
        for (int i = 0; i < 32; i++) {
            block[2 + i] = (byte) (i - 16);
        }
        return block;
    }

    static void write(Path root) throws IOException {
        for (Map.Entry<String, byte[]> e : seeds().entrySet()) {
            Path file = root.resolve(e.getKey());
            Files.createDirectories(file.getParent());
            Files.write(file, e.getValue());
        }
    }
}
