package dev.onnxsteer.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The shared quantised-weight codec: what it packs, ONNX Runtime unpacks to the same values (MatMulNBits with
 * zero points and padded K, at every width); requantising unchanged values keeps every byte; an edit is stored
 * within half a scale step where the scale can stay.
 */
class QuantisedCodecTest {
    @TempDir
    Path temp;

    /** {@code n} seeded gaussians of standard deviation 0.1: weights of the size trained models have. */
    static float[] gaussian(int n, long seed) {
        Random random = new Random(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (0.1 * random.nextGaussian());
        }
        return w;
    }

    /** Writes {@code g} (one com.microsoft node) as a model of opset 21 + com.microsoft 1. */
    static void writeOneNodeModel(Graph g, Path file) {
        Model model = new Model(g);
        model.setIrVersion(8);
        model.opsets().put("", 21L);
        model.opsets().put("com.microsoft", 1L);
        ModelWriter.write(model, file);
    }

    /**
     * A one-node MatMulNBits graph (accuracy level 0, so ONNX Runtime multiplies in float32) computes x times the
     * transpose of the codec's dequantised matrix, for symmetric and zero-point blocks of 2, 4 and 8 bits with K
     * = 88 (a last block of 24 values and padding).
     */
    @ParameterizedTest
    @CsvSource({"4, 32, true", "4, 32, false", "8, 32, false", "8, 16, true", "2, 32, false", "4, 64, false"})
    void onnxRuntimeUnpacksWhatTheCodecPacks(int bits, int blockSize, boolean symmetric) {
        int n = 12;
        int k = 88;
        float[] w = gaussian(n * k, 3);
        BlockQuantised q = symmetric ? BlockQuantised.symmetric(w, n, k, bits, blockSize)
                : BlockQuantised.asymmetric(w, n, k, bits, blockSize);
        assertEquals(symmetric, q.zeroPoints() == null);
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch"), Dim.of(k)));
        List<Value> inputs = new ArrayList<>(List.of(x, g.addInitializer("B", q.packedTensor()),
                g.addInitializer("scales", q.scalesTensor(DataType.FLOAT))));
        if (!symmetric) {
            inputs.add(g.addInitializer("zero_points", q.zeroPointsTensor()));
        }
        Value y = g.op("MatMulNBits").domain("com.microsoft").name("mm").inputs(inputs).outputs("y")
                .attr("K", (long) k).attr("N", (long) n).attr("bits", (long) bits).attr("block_size", (long) blockSize)
                .attr("accuracy_level", 0L).value();
        y.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch"), Dim.of(n)));
        g.addOutput(y);
        Path file = temp.resolve("mm.onnx");
        writeOneNodeModel(g, file);
        // OrtRunner feeds x from Random(7): batch 2 rows of gaussians
        float[] out = OrtRunner.floats(OrtRunner.run(file, OrtRunner.Sizes.small(2), 7, false).get("y"));
        Random random = new Random(7);
        float[] input = new float[2 * k];
        for (int i = 0; i < input.length; i++) {
            input[i] = (float) random.nextGaussian();
        }
        float[] d = q.dequantise();
        double worst = 0;
        for (int b = 0; b < 2; b++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int i = 0; i < k; i++) {
                    sum += input[b * k + i] * d[j * k + i];
                }
                worst = Math.max(worst, Math.abs(sum - out[b * n + j]));
            }
        }
        assertTrue(worst < 1e-4, bits + "-bit blocks of " + blockSize + ": ONNX Runtime differs by " + worst);
        double step = 0;
        for (float s : q.scales()) {
            step = Math.max(step, Math.abs(s));
        }
        for (int i = 0; i < w.length; i++) {
            // within a step: rounding, and at a block's far end the clipping of the rounded zero point or code range
            assertTrue(Math.abs(w[i] - d[i]) <= step + 1e-7, "element " + i);
        }
    }

    /** Requantising the dequantised values changes no byte (a coefficient-0 edit is bit-identical). */
    @Test
    void requantisingUnchangedValuesKeepsEveryByte() {
        for (BlockQuantised q : List.of(BlockQuantised.symmetric(gaussian(12 * 88, 4), 12, 88, 4, 32),
                BlockQuantised.asymmetric(gaussian(12 * 88, 5), 12, 88, 4, 32),
                BlockQuantised.int8(gaussian(8 * 64, 6), 8, 64))) {
            BlockQuantised.Requantised r = q.requantise(q.dequantise());
            assertArrayEquals(q.packed(), r.blocks().packed());
            assertArrayEquals(q.scales(), r.blocks().scales());
            assertTrue(r.error().lossless(), "lossless: " + r.error());
        }
        ChannelQuantised c = ChannelQuantised.symmetricPerColumn(gaussian(32 * 16, 7), 32, 16);
        ChannelQuantised.Requantised r = c.requantise(c.dequantise());
        assertArrayEquals(c.codes(), r.weights().codes());
        assertArrayEquals(c.scales(), r.weights().scales());
        assertTrue(r.error().lossless());
    }

    /** A small edit keeps each block's scale (error at most half a step); a large one refits the blocks it outgrows. */
    @Test
    void editsAreStoredInTheSameSchemeWithTheirError() {
        float[] w = gaussian(12 * 88, 8);
        BlockQuantised q = BlockQuantised.asymmetric(w, 12, 88, 4, 32);
        float[] edited = q.dequantise();
        int middle = 0;
        for (int i = 1; i < 32; i++) {
            middle = Math.abs(edited[i]) < Math.abs(edited[middle]) ? i : middle;
        }
        edited[middle] += 0.3f * Math.abs(q.scales()[0]);
        BlockQuantised.Requantised small = q.requantise(edited);
        assertArrayEquals(q.scales(), small.blocks().scales(), "every block keeps its scale");
        assertTrue(small.error().maxSteps() <= 0.5 + 1e-6 && small.error().maxAbs() > 0, small.error().toString());
        edited[middle] = 10f;
        BlockQuantised.Requantised large = q.requantise(edited);
        assertTrue(large.blocks().scales()[0] > q.scales()[0], "block 0 is refitted to hold 10");
        assertEquals(q.scales()[1], large.blocks().scales()[1], "block 1 is untouched");
        assertEquals(10f, large.blocks().dequantise()[middle], 0.5 * large.blocks().scales()[0]);
        assertEquals(BlockQuantised.of(large.blocks().packedTensor(), large.blocks().scalesTensor(DataType.FLOAT16),
                large.blocks().zeroPointsTensor(), 88, 12, 4, 32).zeroPoints().length, q.zeroPoints().length);
        ChannelQuantised c = ChannelQuantised.symmetricPerColumn(gaussian(32 * 16, 9), 32, 16);
        float[] e = c.dequantise();
        e[3] = 5f;
        ChannelQuantised.Requantised r = c.requantise(e);
        assertEquals(5f / 127, r.weights().scales()[3], 1e-6, "column 3 refitted symmetric");
        assertEquals(c.scales()[4], r.weights().scales()[4]);
        // a reduce_range matrix (codes within +-63) is refitted within its own range, never to 8 bits
        ChannelQuantised reduced = ChannelQuantised.symmetricPerColumn(gaussian(32 * 16, 9), 32, 16, 63);
        float[] f = reduced.dequantise();
        f[3] = 5f;
        ChannelQuantised.Requantised refit = reduced.requantise(f);
        assertEquals(5f / 63, refit.weights().scales()[3], 1e-6, "column 3 refitted at +-63");
        for (byte code : refit.weights().codes()) {
            assertTrue(Math.abs(code) <= 63, "code " + code + " outside the reduced range");
        }
    }

    /** Tensors read from a file start part-way into their buffer: reading codes and zero points is relative. */
    @Test
    void channelWeightsReadFromTensorsWithAnOffset() {
        ChannelQuantised c = new ChannelQuantised(2, 3, false, new byte[] {1, 2, 3, 4, 5, 6}, new float[] {1, 2, 3},
                new int[] {1, 2, 3});
        ChannelQuantised back = ChannelQuantised.of(offset(c.codesTensor()), c.scaleTensor(), offset(c.zeroPointTensor()));
        assertArrayEquals(new float[] {0, 0, 0, 3, 6, 9}, back.dequantise());
    }

    private static Tensor offset(Tensor t) {
        ByteBuffer raw = t.bytes();
        ByteBuffer bigger = ByteBuffer.allocate(raw.remaining() + 5).order(ByteOrder.LITTLE_ENDIAN);
        bigger.position(5);
        bigger.put(raw);
        bigger.position(5);
        return new Tensor(t.type(), t.dims(), new Tensor.Inline(bigger));
    }
}
