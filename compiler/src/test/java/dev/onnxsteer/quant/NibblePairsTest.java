package dev.onnxsteer.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.OrthogonalizePass;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** 8-bit matrices as 4-bit nibble pairs: exact both ways, and edits requantised at the 8-bit step. */
class NibblePairsTest {
    @TempDir
    Path tmp;

    /** Random symmetric 8-bit blocks with fp16 scales (Q8_0's), every code -128..127 present. */
    private static BlockQuantised eightBit(int rows, int cols, long seed) {
        Random random = new Random(seed);
        byte[] packed = new byte[rows * cols];
        random.nextBytes(packed);
        packed[0] = 0; // code 0: q = -128
        packed[1] = (byte) 255; // q = 127
        float[] scales = new float[rows * cols / 32];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = HalfFloats.fromFloat16(HalfFloats.toFloat16((float) (random.nextDouble() * 0.01)));
        }
        return new BlockQuantised(rows, cols, 8, packed, scales, null);
    }

    @Test
    void aPairDequantisesToTheEightBitValuesExactlyAndFoldsBack() {
        BlockQuantised eight = eightBit(6, 96, 1);
        BlockQuantised pair = NibblePairs.split(eight);
        assertEquals(4, pair.bits());
        assertEquals(192, pair.cols());
        assertTrue(NibblePairs.isPair(pair));
        float[] halves = pair.dequantise();
        float[] expected = eight.dequantise();
        for (int r = 0; r < 6; r++) {
            for (int k = 0; k < 96; k++) {
                assertEquals(expected[r * 96 + k], halves[r * 192 + k] + halves[r * 192 + 96 + k], 0, "(" + r + ", " + k + ")");
            }
        }
        BlockQuantised folded = NibblePairs.fold(pair);
        assertArrayEquals(eight.packed(), folded.packed());
        assertArrayEquals(eight.scales(), folded.scales());
        assertFalse(NibblePairs.isPair(BlockQuantised.int4(eight.dequantise(), 6, 96)), "an ordinary 4-bit matrix is no pair");
    }

    /**
     * Orthogonalising a default Q8_0 import (nibble pairs) requantises the edited sum in 8 bits: the same error,
     * within an 8-bit step, as on the --int8-activations import, whose matrices are plain 8-bit ones.
     */
    @Test
    void orthogonalizeRequantisesAPairAtTheEightBitStep() {
        Path gguf = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-Q8_0.gguf");
        GgufImporter.importModel(gguf, OutputTarget.refuseExisting(tmp.resolve("pairs")), GgufImporter.Options.DEFAULT);
        GgufImporter.importModel(gguf, OutputTarget.refuseExisting(tmp.resolve("eight")),
                GgufImporter.Options.DEFAULT.withInt8Activations());
        float[] r = new float[256];
        Random random = new Random(3);
        for (int i = 0; i < r.length; i++) {
            r[i] = (float) random.nextGaussian();
        }
        List<Steering> steering = List.of(new Steering(SiteKind.RESID_POST, 1, r, 1f));
        List<OrthogonalizePass.Rewritten> pairs = orthogonalize(tmp.resolve("pairs"), steering);
        List<OrthogonalizePass.Rewritten> eight = orthogonalize(tmp.resolve("eight"), steering);
        assertEquals(8, pairs.size(), "every o_proj and down_proj");
        for (int i = 0; i < pairs.size(); i++) {
            RequantisationError p = pairs.get(i).requantisation();
            // within one 8-bit step: half where a block keeps its scale, up to one where the symmetric refit clips
            assertTrue(p.maxSteps() <= 1.0 + 1e-4, pairs.get(i) + " within a step");
            assertEquals(eight.get(i).requantisation().maxAbs(), p.maxAbs(), 1e-6, pairs.get(i).tensor());
        }
    }

    private static List<OrthogonalizePass.Rewritten> orthogonalize(Path dir, List<Steering> steering) {
        return Compilation.compile(ModelFiles.locate(dir, null), sites -> steering, Mode.ADD,
                SteerOptions.of(SteerOp.ORTHOGONALIZE)).rewritten().stream().filter(w -> w.requantisation() != null).toList();
    }
}
