package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufWriter;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fixture quantiser's blocks read back through the GGUF reader, whose dequantisation is checked value for value
 * against llama.cpp's on files llama-quantize wrote (QuantisedFilesTest): every value lands within half a quantisation
 * step of the input, and each block's extreme value exactly where the format puts it.
 */
class FixtureQuantiserTest {
    @TempDir
    Path tmp;

    @Test
    void q4_0BlocksDequantiseToWithinHalfAStepAndKeepEachBlocksExtreme() {
        float[] data = gaussian(32 * 64);
        float[] back = roundTrip(data, GgmlType.Q4_0);
        for (int b = 0; b < data.length / 32; b++) {
            float extreme = extreme(data, b);
            float step = Math.abs(extreme) / 8;
            for (int i = 0; i < 32; i++) {
                int at = 32 * b + i;
                // q = 15 is the top of the range: values above 7 steps on the extreme's other side saturate there
                float bound = Math.signum(data[at]) == -Math.signum(extreme) ? Math.max(step / 2, Math.abs(data[at]) - 7 * step) : step / 2;
                assertTrue(Math.abs(back[at] - data[at]) <= bound * 1.01f + 1e-6f, "block " + b + " value " + i + ": " + data[at] + " read " + back[at]);
            }
        }
    }

    @Test
    void q8_0BlocksDequantiseToWithinHalfAStep() {
        float[] data = gaussian(32 * 64);
        float[] back = roundTrip(data, GgmlType.Q8_0);
        for (int b = 0; b < data.length / 32; b++) {
            float max = Math.abs(extreme(data, b));
            for (int i = 0; i < 32; i++) {
                int at = 32 * b + i;
                assertTrue(Math.abs(back[at] - data[at]) <= max / 127 / 2 * 1.01f, "block " + b + " value " + i);
            }
        }
    }

    /** Block {@code b}'s value of the largest magnitude, with its sign (the first of equals). */
    private static float extreme(float[] data, int b) {
        float extreme = 0;
        for (int i = 0; i < 32; i++) {
            extreme = Math.abs(data[32 * b + i]) > Math.abs(extreme) ? data[32 * b + i] : extreme;
        }
        return extreme;
    }

    private float[] roundTrip(float[] data, GgmlType type) {
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", new GgufValue.Str("llama"));
        w.addTensor("m", new long[] {32 * 4, data.length / (32 * 4)}, type, out -> out.write(FixtureQuantiser.quantise(data, type)));
        Path file = tmp.resolve(type + ".gguf");
        w.write(file);
        try (GgufFile gguf = GgufFile.open(file)) {
            float[] back = gguf.readFloats("m");
            assertEquals(data.length, back.length);
            return back;
        }
    }

    private static float[] gaussian(int n) {
        Random random = new Random(40);
        float[] data = new float[n];
        for (int i = 0; i < n; i++) {
            data[i] = (float) random.nextGaussian();
        }
        return data;
    }
}
