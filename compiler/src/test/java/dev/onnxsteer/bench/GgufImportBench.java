package dev.onnxsteer.bench;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufValueType;
import dev.onnxsteer.gguf.GgufWriter;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.AtomicFiles;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Import memory benchmark (not a test): writes a synthetic GGUF shaped like a 3B llama (open_llama_3b:
 * 26 layers, hidden 3200, 32 heads, ffn 8640, vocab 32000) in Q4_0 with seeded random blocks, imports it
 * with {@code --weights keep} and prints the import time, the peak heap and the process's peak RSS
 * (VmHWM, which also counts pages of the memory-mapped GGUF). Run with a 1 GB heap:
 * {@code mvn -B -q -DskipTests -Dbench=compiler -Dbench.main=dev.onnxsteer.bench.GgufImportBench
 * -Dbench.heap=1g -pl compiler -am verify}. Needs about 4 GB free in the temp directory.
 */
public final class GgufImportBench {
    private static final int LAYERS = 26;
    private static final int HIDDEN = 3200;
    private static final int HEADS = 32;
    private static final int FFN = 8640;
    private static final int VOCAB = 32000;

    public static void main(String[] args) throws IOException {
        Path dir = Files.createTempDirectory("onnx-steer-gguf-bench");
        try {
            Path gguf = dir.resolve("llama-3b-shaped-Q4_0.gguf");
            long start = System.nanoTime();
            writeModel(gguf);
            System.out.printf("wrote %s: %.2f GB in %.1f s%n", gguf.getFileName(), Files.size(gguf) / 1e9,
                    (System.nanoTime() - start) / 1e9);
            System.gc();
            ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
            start = System.nanoTime();
            GgufImporter.Result result = GgufImporter.importModel(gguf, dir.resolve("model"), WeightFormat.KEEP);
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("import --weights keep: %.1f s, %d projections as MatMulNBits (%d requantised), %.2f GB of weights%s%n",
                    seconds, result.quantisedProjections(), result.requantised(), result.weightBytes() / 1e9,
                    result.externalData() ? " in model.onnx.data" : "");
            System.out.printf("max heap %.0f MB; peak heap used %.0f MB; peak RSS (VmHWM) %s%n",
                    Runtime.getRuntime().maxMemory() / 1e6, peakHeapUsed() / 1e6, vmHwm());
        } finally {
            AtomicFiles.deleteTree(dir);
        }
    }

    private static void writeModel(Path target) {
        GgufWriter writer = new GgufWriter();
        try (GgufFile tiny = GgufFile.open(TestPaths.sharedModel("tiny-llama-quants/tiny-llama-F32.gguf"))) {
            tiny.metadata().asMap().forEach(writer::put);
            // the tiny llama's SentencePiece vocabulary, padded to 32000 with plain tokens
            List<GgufValue> tokens = new ArrayList<>(((GgufValue.Array) tiny.metadata().asMap().get("tokenizer.ggml.tokens")).elements());
            List<GgufValue> scores = new ArrayList<>(((GgufValue.Array) tiny.metadata().asMap().get("tokenizer.ggml.scores")).elements());
            List<GgufValue> types = new ArrayList<>(((GgufValue.Array) tiny.metadata().asMap().get("tokenizer.ggml.token_type")).elements());
            for (int i = tokens.size(); i < VOCAB; i++) {
                tokens.add(new GgufValue.Str("\u2581synthetic" + i));
                scores.add(new GgufValue.Real(GgufValueType.FLOAT32, -1000 - i));
                types.add(new GgufValue.Int(GgufValueType.INT32, 1));
            }
            writer.put("tokenizer.ggml.tokens", new GgufValue.Array(GgufValueType.STRING, tokens));
            writer.put("tokenizer.ggml.scores", new GgufValue.Array(GgufValueType.FLOAT32, scores));
            writer.put("tokenizer.ggml.token_type", new GgufValue.Array(GgufValueType.INT32, types));
        }
        for (Map.Entry<String, Integer> e : Map.of("llama.block_count", LAYERS, "llama.embedding_length", HIDDEN,
                "llama.attention.head_count", HEADS, "llama.attention.head_count_kv", HEADS,
                "llama.feed_forward_length", FFN, "llama.rope.dimension_count", HIDDEN / HEADS).entrySet()) {
            writer.put(e.getKey(), new GgufValue.Int(GgufValueType.UINT32, e.getValue()));
        }
        long seed = 3;
        matrix(writer, "token_embd.weight", HIDDEN, VOCAB, seed++);
        vector(writer, "output_norm.weight");
        matrix(writer, "output.weight", HIDDEN, VOCAB, seed++);
        for (int l = 0; l < LAYERS; l++) {
            String b = "blk." + l + ".";
            vector(writer, b + "attn_norm.weight");
            vector(writer, b + "ffn_norm.weight");
            for (String name : List.of("attn_q", "attn_k", "attn_v", "attn_output")) {
                matrix(writer, b + name + ".weight", HIDDEN, HIDDEN, seed++);
            }
            matrix(writer, b + "ffn_gate.weight", HIDDEN, FFN, seed++);
            matrix(writer, b + "ffn_up.weight", HIDDEN, FFN, seed++);
            matrix(writer, b + "ffn_down.weight", FFN, HIDDEN, seed++);
        }
        writer.write(target);
    }

    private static void vector(GgufWriter writer, String name) {
        float[] ones = new float[HIDDEN];
        java.util.Arrays.fill(ones, 1f);
        writer.addTensor(name, new long[] {HIDDEN}, ones);
    }

    /** Q4_0 blocks: scale 0.02 (fp16 0x251F), seeded random nibbles; written block by block, never held. */
    private static void matrix(GgufWriter writer, String name, int cols, int rows, long seed) {
        writer.addTensor(name, new long[] {cols, rows}, GgmlType.Q4_0, out -> {
            SplittableRandom random = new SplittableRandom(seed);
            byte[] chunk = new byte[18 * 4096];
            long blocks = (long) cols * rows / 32;
            for (long b = 0; b < blocks; b += 4096) {
                int n = (int) Math.min(4096, blocks - b);
                for (int i = 0; i < n; i++) {
                    chunk[18 * i] = 0x1F;
                    chunk[18 * i + 1] = 0x25;
                    for (int j = 2; j < 18; j++) {
                        chunk[18 * i + j] = (byte) random.nextInt(256);
                    }
                }
                out.write(chunk, 0, 18 * n);
            }
        });
    }

    private static long peakHeapUsed() {
        return ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP)
                .mapToLong(p -> p.getPeakUsage().getUsed()).sum();
    }

    private static String vmHwm() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return line.substring(6).trim();
            }
        }
        return "unknown (no /proc/self/status)";
    }
}
