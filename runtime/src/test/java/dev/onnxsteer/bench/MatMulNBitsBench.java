package dev.onnxsteer.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.session.Tensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * ONNX Runtime's CPU MatMulNBits on one token, by bit width and block size (not a test, issue 19): why an imported
 * Q4_0 or Q8_0 file decodes slower than llama.cpp decodes it. Each variant is one graph of {@value #MATRICES} seeded
 * random [{@value #K} x {@value #N}] matrices (the 480M Llama's FFN shape, 462M weights: far more bytes than the CPU's
 * caches, as in a decode step) multiplied by one row of activations, {@code accuracy_level} 4 (int8 activations).
 * Figures: the median time per matrix over {@value #RUNS} runs, as multiply-adds per second and as the bytes of the
 * graph's own blocks (codes and an fp32 scale per block) per second, what the kernel would stream if it read only those.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.MatMulNBitsBench -pl runtime -am
 * verify} ({@code -Dbench.threads=N} through {@code JAVA_TOOL_OPTIONS}, default 2).
 */
public final class MatMulNBitsBench {
    private static final int K = 2048;
    private static final int N = 5632;
    private static final int MATRICES = 40;
    private static final int RUNS = 60;

    private MatMulNBitsBench() {}

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("bench.threads", 2);
        SessionConfig sessions = SessionConfig.cpu().withThreads(threads, 1);
        System.out.printf(Locale.ROOT, "MatMulNBits, accuracy_level 4, %d matrices of [%d x %d], one row, %d thread(s):%n", MATRICES, K, N,
                threads);
        System.out.println("| bits | block | graph bits per weight | us per matrix | G multiply-adds/s | graph GB/s |");
        System.out.println("|---|---|---|---|---|---|");
        for (int bits : new int[] {4, 8}) {
            for (int block : new int[] {32, 64, 128}) {
                measure(bits, block, sessions);
            }
        }
    }

    private static void measure(int bits, int block, SessionConfig sessions) throws OrtException, IOException {
        Path dir = Files.createTempDirectory("matmulnbits-bench");
        Path file = dir.resolve("model.onnx");
        ModelWriter.write(model(bits, block), file);
        double graphBitsPerWeight = bits + 32.0 / block;
        try (ModelSession session = SessionFactory.open(file, sessions);
                OnnxTensor x = Tensors.floats(activations(), new long[] {1, K})) {
            Map<String, OnnxTensor> feed = Map.of("x", x);
            double[] perMatrix = new double[RUNS];
            for (int i = -5; i < RUNS; i++) {
                long t0 = System.nanoTime();
                try (OrtSession.Result ignored = session.ort().run(feed)) {
                    if (i >= 0) {
                        perMatrix[i] = (System.nanoTime() - t0) / 1e3 / MATRICES;
                    }
                }
            }
            double us = GenerationBench.median(perMatrix);
            System.out.printf(Locale.ROOT, "| %d | %d | %.2f | %.0f | %.1f | %.1f |%n", bits, block, graphBitsPerWeight, us,
                    (double) K * N / us / 1e3, graphBitsPerWeight * K * N / 8 / us / 1e3);
        } finally {
            AtomicFiles.deleteTree(dir);
        }
    }

    /** x [1, K] times each matrix: outputs y0 ... */
    private static Model model(int bits, int block) {
        Graph g = new Graph("matmulnbits");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(K)));
        SplittableRandom random = new SplittableRandom(19);
        int blocks = K / block;
        for (int m = 0; m < MATRICES; m++) {
            byte[] packed = new byte[N * blocks * block * bits / 8];
            random.nextBytes(packed);
            float[] scales = new float[N * blocks];
            for (int i = 0; i < scales.length; i++) {
                scales[i] = (float) (0.001 + 0.01 * random.nextDouble());
            }
            Value b = g.addInitializer("b" + m, new Tensor(DataType.UINT8, new long[] {N, blocks, block * bits / 8},
                    new Tensor.Inline(ByteBuffer.wrap(packed).order(ByteOrder.LITTLE_ENDIAN))));
            Value s = g.addInitializer("s" + m, Tensor.ofFloats(new long[] {(long) N * blocks}, scales));
            Value y = g.op("MatMulNBits").domain("com.microsoft").name("matmul" + m).inputs(x, b, s).attr("K", (long) K)
                    .attr("N", (long) N).attr("bits", (long) bits).attr("block_size", (long) block).attr("accuracy_level", 4L)
                    .outputs("y" + m).value();
            y.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(N)));
            g.addOutput(y);
        }
        Model model = new Model(g);
        model.opsets().put("", 21L);
        model.opsets().put("com.microsoft", 1L);
        return model;
    }

    private static float[] activations() {
        SplittableRandom random = new SplittableRandom(7);
        float[] x = new float[K];
        for (int i = 0; i < K; i++) {
            x[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return x;
    }
}
