package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.QuantisationError;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --weights keep|int8|int4}: each projection's MatMulNBits, decoded as ONNX Runtime's contrib-op
 * spec defines it (code - zero_point) * scale (decoder written here from the spec, not the importer's), is
 * compared with the float32 import of the same file, whose MatMul weights are llama.cpp's dequantised
 * values (bit-identical, see QuantisedFilesTest).
 */
class MatMulNBitsImportTest {
    @TempDir
    Path tmp;

    private static Path quants(String name) {
        return TestPaths.sharedModel("tiny-llama-quants/tiny-llama-" + name + ".gguf");
    }

    @Test
    void keepCopiesQ4_0AndQ8_0BlocksBitForBit() {
        for (String name : List.of("Q4_0", "Q8_0")) {
            Path gguf = quants(name);
            GgufImporter.Result keep = GgufImporter.importModel(gguf, tmp.resolve(name + "-keep"), WeightFormat.KEEP, ImportFormat.ONNX);
            GgufImporter.importModel(gguf, tmp.resolve(name + "-f32"), WeightFormat.F32, ImportFormat.ONNX);
            Model quantised = ModelReader.read(tmp.resolve(name + "-keep/model.onnx"));
            Model reference = ModelReader.read(tmp.resolve(name + "-f32/model.onnx"));
            assertEquals(1L, quantised.opsets().get("com.microsoft"));
            int exact = 0;
            try (GgufFile file = GgufFile.open(gguf)) {
                for (Map.Entry<String, String> p : projections(quantised).entrySet()) {
                    GgmlType type = file.tensor(p.getValue()).type();
                    float[][] decoded = decode(nodeFor(quantised, p.getKey()));
                    float[][] expected = transposed(reference.graph().find(p.getKey()).orElseThrow().initializer());
                    if (type.name().equals(name)) {
                        assertBitIdentical(name + " " + p.getKey(), expected, decoded);
                        exact++;
                    } else {
                        assertTrue(relativeRms(expected, decoded) < 0.01, p.getKey() + " " + type + " requantised to 8 bits");
                    }
                }
            }
            assertEquals(29, keep.quantisedProjections(), name);
            assertEquals(29 - exact, keep.requantised(), name);
            assertTrue(exact >= 28, name + ": " + exact + " projections copied");
        }
    }

    /** The int8-activation opt-in changes the attribute only: the same packed blocks, accuracy_level 4 on every MatMulNBits. */
    @Test
    void int8ActivationsSetAccuracyLevel4AndKeepTheBlocks() {
        Path gguf = quants("Q8_0");
        GgufImporter.importModel(gguf, tmp.resolve("float-activations"), WeightFormat.KEEP, ImportFormat.ONNX);
        GgufImporter.importModel(gguf, OutputTarget.refuseExisting(tmp.resolve("int8-activations")),
                GgufImporter.Options.DEFAULT.withFormat(ImportFormat.ONNX).withInt8Activations());
        Model floats = ModelReader.read(tmp.resolve("float-activations/model.onnx"));
        Model int8 = ModelReader.read(tmp.resolve("int8-activations/model.onnx"));
        List<Node> nodes = int8.graph().nodes().stream().filter(n -> n.opType().equals("MatMulNBits")).toList();
        assertEquals(29, nodes.size());
        for (Node node : nodes) {
            assertEquals(4L, node.intAttribute("accuracy_level", -1), node.name());
        }
        for (String weight : projections(int8).keySet()) {
            assertBitIdentical(weight, decode(nodeFor(floats, weight)), decode(nodeFor(int8, weight)));
        }
    }

    @Test
    void requantisedWeightsAreWithinTheirWidthsErrorAndSitesAreStillFound() {
        Path gguf = quants("Q4_K_M");
        GgufImporter.importModel(gguf, tmp.resolve("f32"), WeightFormat.F32, ImportFormat.ONNX);
        Model reference = ModelReader.read(tmp.resolve("f32/model.onnx"));
        for (WeightFormat format : List.of(WeightFormat.INT8, WeightFormat.INT4)) {
            GgufImporter.Result result = GgufImporter.importModel(gguf, tmp.resolve(format.label()), format, ImportFormat.ONNX);
            Model model = ModelReader.read(tmp.resolve(format.label() + "/model.onnx"));
            double worst = 0;
            for (String weight : projections(model).keySet()) {
                Node node = nodeFor(model, weight);
                // 8 bits with float activations: a 4-bit nibble pair over Concat(x, x) (see NibblePairs)
                assertEquals(4L, node.intAttribute("bits", -1));
                assertEquals(format == WeightFormat.INT8, node.input(0).producer().opType().equals("Concat"), weight);
                assertEquals(0L, node.intAttribute("accuracy_level", -1), "float32 activations by default");
                worst = Math.max(worst, relativeRms(transposed(reference.graph().find(weight).orElseThrow().initializer()), decode(node)));
            }
            // uniform b-bit blocks of 32: relative RMS about 2^-b * sqrt(12)^-1 * (range / rms) ~ 0.005 (8) and 0.08 (4)
            double limit = format == WeightFormat.INT8 ? 0.01 : 0.12;
            assertTrue(worst < limit, format + ": worst relative RMS " + worst);
            assertEquals(worst, result.worstRequantisationError(), 1e-6, "the importer reports the error it made");
            SiteMap sites = SiteFinder.find(model);
            assertEquals("/model/layers.2/mlp/down_proj/MatMulNBits_output_0",
                    sites.find(SiteKind.MLP_OUT, 2).get(0).value().name());
            assertEquals("/model/layers.3/self_attn/o_proj/MatMulNBits_output_0",
                    sites.find(SiteKind.ATTN_OUT, 3).get(0).value().name());
        }
    }

    /** weight initializer name (as in the f32 import) to GGUF tensor name, for every MatMulNBits node. */
    private static Map<String, String> projections(Model model) {
        Map<String, String> out = new java.util.TreeMap<>();
        for (Node node : model.graph().nodes()) {
            if (node.opType().equals("MatMulNBits")) {
                String weight = node.input(1).name().replace(".packed", "");
                out.put(weight, ggufName(weight));
            }
        }
        return out;
    }

    private static String ggufName(String hf) {
        if (hf.equals("lm_head.weight")) {
            return "output.weight";
        }
        String layer = hf.split("\\.")[2];
        String part = hf.substring(hf.indexOf(layer + ".") + layer.length() + 1);
        String gguf = switch (part) {
            case "self_attn.q_proj.weight" -> "attn_q";
            case "self_attn.k_proj.weight" -> "attn_k";
            case "self_attn.v_proj.weight" -> "attn_v";
            case "self_attn.o_proj.weight" -> "attn_output";
            case "mlp.gate_proj.weight" -> "ffn_gate";
            case "mlp.up_proj.weight" -> "ffn_up";
            case "mlp.down_proj.weight" -> "ffn_down";
            default -> throw new IllegalArgumentException(hf);
        };
        return "blk." + layer + "." + gguf + ".weight";
    }

    private static Node nodeFor(Model model, String weight) {
        return model.graph().find(weight + ".packed").orElseThrow().uses().get(0).node();
    }

    /**
     * The projection's weight [N, K]: its MatMulNBits decoded, and where the node reads {@code Concat(x, x)} (an
     * 8-bit matrix as a 4-bit nibble pair, K doubled) the two halves summed, as the product with [x, x] sums them.
     */
    static float[][] decode(Node node) {
        float[][] w = decodeBlocks(node);
        Node producer = node.input(0).producer();
        if (producer == null || !producer.opType().equals("Concat") || producer.inputs().size() != 2
                || producer.input(0) != producer.input(1)) {
            return w;
        }
        int k = w[0].length / 2;
        float[][] folded = new float[w.length][k];
        for (int row = 0; row < w.length; row++) {
            for (int col = 0; col < k; col++) {
                folded[row][col] = w[row][col] + w[row][col + k];
            }
        }
        return folded;
    }

    /** MatMulNBits weight [N, K] from B, scales and optional zero points, as the contrib-op spec states. */
    private static float[][] decodeBlocks(Node node) {
        int k = (int) node.intAttribute("K", -1);
        int n = (int) node.intAttribute("N", -1);
        int bits = (int) node.intAttribute("bits", -1);
        int blockSize = (int) node.intAttribute("block_size", -1);
        ByteBuffer b = node.input(1).initializer().bytes().slice(); // absolute reads from the data's start
        float[] scales = node.input(2).initializer().toFloats();
        ByteBuffer zp = node.inputs().size() > 3 ? node.input(3).initializer().bytes().slice() : null;
        int blocks = k / blockSize;
        int blob = blockSize * bits / 8;
        int zpPerRow = (blocks * bits + 7) / 8;
        float[][] w = new float[n][k];
        for (int row = 0; row < n; row++) {
            for (int col = 0; col < k; col++) {
                int block = col / blockSize;
                int inBlock = col % blockSize;
                int code = bits == 8 ? b.get(row * blocks * blob + block * blob + inBlock) & 0xff
                        : ((b.get(row * blocks * blob + block * blob + inBlock / 2) & 0xff) >>> (4 * (inBlock % 2))) & 0x0f;
                int zero = 1 << (bits - 1);
                if (zp != null) {
                    int packed = zp.get(row * zpPerRow + block * bits / 8) & 0xff;
                    zero = bits == 8 ? packed : (packed >>> (4 * (block % 2))) & 0x0f;
                }
                w[row][col] = (code - zero) * scales[row * blocks + block];
            }
        }
        return w;
    }

    /** A MatMul weight [in, out] as [out, in]. */
    static float[][] transposed(Tensor t) {
        int in = (int) t.dim(0);
        int out = (int) t.dim(1);
        float[] v = t.toFloats();
        float[][] w = new float[out][in];
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) {
                w[o][i] = v[i * out + o];
            }
        }
        return w;
    }

    static double relativeRms(float[][] exact, float[][] approx) {
        return QuantisationError.relativeRms(flat(exact), flat(approx));
    }

    private static float[] flat(float[][] rows) {
        float[] out = new float[rows.length * rows[0].length];
        for (int r = 0; r < rows.length; r++) {
            System.arraycopy(rows[r], 0, out, r * rows[r].length, rows[r].length);
        }
        return out;
    }

    private static void assertBitIdentical(String what, float[][] expected, float[][] actual) {
        for (int r = 0; r < expected.length; r++) {
            for (int c = 0; c < expected[r].length; c++) {
                if (Float.floatToRawIntBits(expected[r][c]) != Float.floatToRawIntBits(actual[r][c])) {
                    fail(what + ": [" + r + ", " + c + "] is " + actual[r][c] + ", the GGUF gives " + expected[r][c]);
                }
            }
        }
    }
}
