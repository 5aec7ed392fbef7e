package dev.onnxsteer.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The MatMulBnb4 codec: ONNX Runtime's CPU MatMulBnb4 unpacks every element to exactly the value {@link
 * Bnb4Blocks#dequantise} gives (FP4 and NF4, blocks running across rows, a short last block, an odd element
 * count); requantising keeps unchanged blocks' bytes and reports what an edit costs.
 */
class Bnb4BlocksTest {
    @TempDir
    Path temp;

    /**
     * MatMulBnb4 of the K x K identity (an initializer, so the graph has no inputs) is the dequantised weight
     * itself, transposed: each output is one weight times 1 plus zeros, so ONNX Runtime's values are the
     * codec's bit for bit.
     */
    @ParameterizedTest
    @CsvSource({"NF4, 64, 12, 88", "FP4, 64, 12, 88", "NF4, 16, 5, 27", "FP4, 32, 5, 27", "NF4, 256, 3, 40"})
    void onnxRuntimeUnpacksExactlyWhatTheCodecPacks(Bnb4Blocks.Codebook codebook, int blockSize, int n, int k) {
        Bnb4Blocks q = Bnb4Blocks.quantise(QuantisedCodecTest.gaussian(n * k, 3), n, k, codebook, blockSize);
        float[] identity = new float[k * k];
        for (int i = 0; i < k; i++) {
            identity[i * k + i] = 1f;
        }
        Graph g = new Graph("g");
        Value x = g.addInitializer("x", Tensor.ofFloats(new long[] {k, k}, identity));
        Value y = g.op("MatMulBnb4").domain("com.microsoft").name("mm")
                .inputs(x, g.addInitializer("B", q.packedTensor()), g.addInitializer("absmax", q.absmaxTensor(DataType.FLOAT)))
                .outputs("y").attr("K", (long) k).attr("N", (long) n).attr("block_size", (long) blockSize)
                .attr("quant_type", codebook.quantType()).value();
        y.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.of(k), Dim.of(n)));
        g.addOutput(y);
        Path file = temp.resolve("mm.onnx");
        QuantisedCodecTest.writeOneNodeModel(g, file);
        float[] out = OrtRunner.floats(OrtRunner.run(file, OrtRunner.Sizes.small(2), 7, false).get("y"));
        float[] d = q.dequantise();
        int differing = 0;
        for (int row = 0; row < n; row++) {
            for (int col = 0; col < k; col++) {
                differing += out[col * n + row] == d[row * k + col] ? 0 : 1;
            }
        }
        assertEquals(0, differing, codebook + " blocks of " + blockSize + ", [" + n + ", " + k + "]");
        boolean usesEveryCode = true;
        for (int c = 0; c < 16 && codebook == Bnb4Blocks.Codebook.NF4 && n * k > 200; c++) {
            boolean seen = false;
            for (int i = 0; i < n * k; i++) {
                seen |= ((q.packed()[i / 2] >>> (i % 2 == 0 ? 4 : 0)) & 0xf) == c;
            }
            usesEveryCode &= seen;
        }
        assertTrue(usesEveryCode, "gaussian weights reach every NF4 code");
    }

    /** Every element is the nearest code: within half the codebook's widest gap (NF4 0.304, from -1 to -0.696; FP4 1/3) of absmax. */
    @ParameterizedTest
    @CsvSource({"NF4, 0.1520", "FP4, 0.16667"})
    void quantisingRoundsToTheNearestCode(Bnb4Blocks.Codebook codebook, double halfGap) {
        float[] w = QuantisedCodecTest.gaussian(12 * 88, 5);
        Bnb4Blocks q = Bnb4Blocks.quantise(w, 12, 88, codebook, 64);
        float[] d = q.dequantise();
        for (int i = 0; i < w.length; i++) {
            float absmax = q.absmax()[i / 64];
            assertTrue(Math.abs(w[i] - d[i]) <= halfGap * absmax + 1e-7, "element " + i + ": " + w[i] + " -> " + d[i]);
        }
        for (int b = 0; b < q.blocks(); b++) {
            float largest = 0;
            for (int i = b * 64; i < Math.min(w.length, (b + 1) * 64); i++) {
                largest = Math.max(largest, Math.abs(w[i]));
            }
            assertEquals(largest, q.absmax()[b], "block " + b + "'s absmax is its largest magnitude");
        }
    }

    /** Unchanged values keep every byte; an edit within absmax keeps it; one beyond refits that block only. */
    @Test
    void requantisingKeepsUnchangedBlocksAndReportsTheEdit() {
        Bnb4Blocks q = Bnb4Blocks.quantise(QuantisedCodecTest.gaussian(12 * 88, 6), 12, 88, Bnb4Blocks.Codebook.NF4, 64);
        Bnb4Blocks.Requantised same = q.requantise(q.dequantise());
        assertArrayEquals(q.packed(), same.blocks().packed());
        assertArrayEquals(q.absmax(), same.blocks().absmax());
        assertTrue(same.error().lossless(), same.error().toString());

        float[] edited = q.dequantise();
        edited[70] += 0.05f * q.absmax()[1];
        Bnb4Blocks.Requantised small = q.requantise(edited);
        assertArrayEquals(q.absmax(), small.blocks().absmax(), "an edit within absmax keeps every block's absmax");
        assertTrue(small.error().maxAbs() > 0 && small.error().maxSteps() <= 0.1520 + 1e-6, small.error().toString());

        edited[70] = 10f;
        Bnb4Blocks.Requantised large = q.requantise(edited);
        assertEquals(10f, large.blocks().absmax()[1], "block 1 is refitted to hold 10");
        assertEquals(10f, large.blocks().dequantise()[70], "10 is the refitted block's code 15");
        for (int b = 0; b < q.blocks(); b++) {
            if (b != 1) {
                assertEquals(q.absmax()[b], large.blocks().absmax()[b], "block " + b);
            }
        }
    }
}
