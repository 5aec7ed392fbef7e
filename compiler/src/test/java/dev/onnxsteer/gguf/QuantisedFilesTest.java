package dev.onnxsteer.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.onnxsteer.TestPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The readers against ../shared/models/tiny-llama-quants: one seeded F32 llama and the same model quantised
 * by llama.cpp's own {@code llama-quantize} into every type (K_M mixes keep some tensors in other types).
 */
class QuantisedFilesTest {
    static final List<String> FILES = List.of("F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_M",
            "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS");

    /**
     * Largest relative RMS error, ||dequantised - f32|| / ||f32|| per tensor, each type may show against the
     * F32 original: a loose ceiling over what each format's bits allow (2.6 to 8.5 bits per weight), so a
     * wrong bit layout (errors near 1 or larger) fails while any correct decoder passes.
     */
    static final Map<GgmlType, Double> MAX_RELATIVE_RMS = Map.ofEntries(
            Map.entry(GgmlType.F16, 0.001), Map.entry(GgmlType.Q8_0, 0.01), Map.entry(GgmlType.Q6_K, 0.03),
            Map.entry(GgmlType.Q5_0, 0.06), Map.entry(GgmlType.Q5_1, 0.06), Map.entry(GgmlType.Q5_K, 0.06),
            Map.entry(GgmlType.Q4_0, 0.12), Map.entry(GgmlType.Q4_1, 0.12), Map.entry(GgmlType.Q4_K, 0.12),
            Map.entry(GgmlType.IQ4_NL, 0.12), Map.entry(GgmlType.IQ4_XS, 0.12), Map.entry(GgmlType.Q3_K, 0.25),
            Map.entry(GgmlType.Q2_K, 0.5));

    @TempDir
    Path tmp;

    private static Path quants(String type) {
        return TestPaths.sharedModel("tiny-llama-quants/tiny-llama-" + type + ".gguf");
    }

    /** Oracle: llama.cpp's reference dequantize_row_* (libggml-base), which must agree bit for bit. */
    @Test
    void everyTensorOfEveryFileDecodesBitIdenticallyToLlamaCpp() throws Exception {
        LlamaCppDequantPeer.script();
        Set<GgmlType> seen = EnumSet.noneOf(GgmlType.class);
        for (String name : FILES) {
            Path path = quants(name);
            Map<String, LlamaCppDequantPeer.Tensor> reference = LlamaCppDequantPeer.dequantise(path, tmp);
            try (GgufFile gguf = GgufFile.open(path)) {
                assertEquals(reference.keySet(), Set.copyOf(gguf.tensors().stream().map(GgufTensorInfo::name).toList()), name);
                for (GgufTensorInfo info : gguf.tensors()) {
                    LlamaCppDequantPeer.Tensor expected = reference.get(info.name());
                    assertEquals(expected.type(), info.type().name().toLowerCase().replace("_k", "_K"), info.name());
                    assertBitIdentical(name + " " + info, expected.values(), gguf.readFloats(info));
                    seen.add(info.type());
                }
            }
            deleteTree(tmp);
        }
        Set<GgmlType> required = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
                GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
                GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS);
        assertTrue(seen.containsAll(required), "types covered: " + seen);
    }

    /** Oracle: the F32 original; each quantised tensor is within its type's quantisation error of it. */
    @Test
    void everyQuantisedTensorIsWithinItsTypesErrorOfTheF32Original() throws Exception {
        Map<String, String> worst = new TreeMap<>();
        try (GgufFile original = GgufFile.open(quants("F32"))) {
            for (String name : FILES) {
                try (GgufFile gguf = GgufFile.open(quants(name))) {
                    for (GgufTensorInfo info : gguf.tensors()) {
                        float[] exact = original.readFloats(info.name());
                        float[] decoded = gguf.readFloats(info);
                        double error = QuantisationError.relativeRms(exact, decoded);
                        if (info.type() == GgmlType.F32) {
                            assertEquals(0.0, error, name + " " + info);
                            continue;
                        }
                        double limit = MAX_RELATIVE_RMS.get(info.type());
                        if (!(error <= limit)) {
                            fail(name + " " + info + ": relative RMS error " + error + " above " + limit);
                        }
                        worst.merge(info.type().name(), String.format("%.4f", error),
                                (a, b) -> Double.parseDouble(a) >= Double.parseDouble(b) ? a : b);
                    }
                }
            }
        }
        assertEquals(MAX_RELATIVE_RMS.size(), worst.size(), "types seen: " + worst);
    }

    static void assertBitIdentical(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + ", llama.cpp gives " + expected[i]);
            }
        }
    }

    private static void deleteTree(Path dir) throws Exception {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                if (!p.equals(dir)) {
                    Files.delete(p);
                }
            }
        }
    }
}
