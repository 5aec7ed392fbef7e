package dev.onnxsteer.bench;

import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Model I/O benchmark (not a test): read + write of a model with about 1 GB of external weights,
 * against a plain copy of the same bytes, and the peak heap used while doing it.
 * Run: {@code mvn -B -q -Pbench -DskipTests -pl compiler -am verify -Dbench.main=dev.onnxsteer.bench.ModelIoBench}
 */
public final class ModelIoBench {
    private static final int MATRICES = 16;
    private static final int SIDE = 4096;

    public static void main(String[] args) throws IOException {
        Path dir = Files.createTempDirectory("onnx-steer-io-bench");
        try {
            Path source = dir.resolve("source/model.onnx");
            long weightBytes = makeModel(source);
            System.out.printf("model: %d MatMul weights, %.2f GB external data%n", MATRICES, weightBytes / 1e9);
            int reps = 5;
            double[] readWrite = new double[reps];
            double[] copy = new double[reps];
            long peakHeap = 0;
            for (int i = 0; i < reps; i++) {
                resetPeaks();
                long t0 = System.nanoTime();
                Model model = ModelReader.read(source);
                ModelWriter.write(model, dir.resolve("out" + i + "/model.onnx"));
                readWrite[i] = (System.nanoTime() - t0) / 1e6;
                peakHeap = Math.max(peakHeap, peakHeapUsed());
                long t1 = System.nanoTime();
                Files.createDirectories(dir.resolve("copy" + i));
                Files.copy(source.resolveSibling("weights.bin"), dir.resolve("copy" + i + "/weights.bin"));
                copy[i] = (System.nanoTime() - t1) / 1e6;
            }
            double rw = median(readWrite);
            double cp = median(copy);
            System.out.printf("read+write (median of %d): %.1f ms%n", reps, rw);
            System.out.printf("plain copy of the weight file (median of %d): %.1f ms%n", reps, cp);
            System.out.printf("ratio read+write / copy: %.4f%n", rw / cp);
            System.out.printf("peak heap used during read+write: %.1f MB (%.2f%% of the weight bytes)%n",
                    peakHeap / 1e6, 100.0 * peakHeap / weightBytes);
        } finally {
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** A chain of MatMuls whose weights live in one external file; returns the weight bytes. */
    private static long makeModel(Path onnx) throws IOException {
        Files.createDirectories(onnx.getParent());
        Path weights = onnx.resolveSibling("weights.bin");
        long bytesPerMatrix = 4L * SIDE * SIDE;
        try (FileChannel channel = FileChannel.open(weights, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ByteBuffer chunk = ByteBuffer.allocate(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < chunk.capacity() / 4; i++) {
                chunk.putFloat((float) Math.sin(i) * 1e-3f);
            }
            for (long written = 0; written < bytesPerMatrix * MATRICES; written += chunk.capacity()) {
                chunk.clear();
                channel.write(chunk, written);
            }
        }
        Graph graph = new Graph("io-bench");
        Value x = graph.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch"), Dim.of(SIDE)));
        for (int i = 0; i < MATRICES; i++) {
            Tensor w = new Tensor(DataType.FLOAT, new long[] {SIDE, SIDE},
                    new Tensor.External(weights, "weights.bin", i * bytesPerMatrix, bytesPerMatrix));
            x = graph.op("MatMul").name("/layers." + i + "/MatMul").inputs(x, graph.addInitializer("w" + i, w)).value();
        }
        graph.addOutput(x);
        Model model = new Model(graph);
        model.setIrVersion(8);
        model.opsets().put("", 17L);
        model.setDirectory(onnx.getParent());
        ModelWriter.write(model, onnx);
        return bytesPerMatrix * MATRICES;
    }

    private static void resetPeaks() {
        System.gc();
        ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
    }

    private static long peakHeapUsed() {
        return ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP)
                .mapToLong(p -> p.getPeakUsage().getUsed()).sum();
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
