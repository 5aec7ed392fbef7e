package dev.onnxsteer.server;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * stories260K imported once per test JVM into a temporary directory, plus a vectors directory:
 * {@code happy} (.gguf, resid_post.2), {@code sad} (.safetensors, resid_post.1 and .3) and {@code
 * calm} (.gguf, resid_mid.2), random directions with fixed seeds and L2 norm {@link #NORM}.
 */
final class Stories {
    static final float NORM = 6f;
    private static Path root;

    private Stories() {}

    static synchronized Path root() {
        if (root == null) {
            Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
            try {
                Path dir = Files.createTempDirectory("onnx-steer-server-test");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> AtomicFiles.deleteTree(dir)));
                GgufImporter.importModel(gguf, dir.resolve("stories"));
                Path vectors = Files.createDirectories(dir.resolve("vectors"));
                VectorFiles.write(vectors(Map.of(2, 11L), "resid_post"), vectors.resolve("happy.gguf"));
                VectorFiles.write(vectors(Map.of(1, 12L, 3, 13L), "resid_post"), vectors.resolve("sad.safetensors"));
                VectorFiles.write(vectors(Map.of(2, 14L), "resid_mid"), vectors.resolve("calm.gguf"));
                Files.writeString(vectors.resolve("README.txt"), "not a vector file; ignored");
                root = dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return root;
    }

    static Path model() {
        return root().resolve("stories");
    }

    static ModelFiles files() {
        return ModelFiles.locate(model(), null);
    }

    static Path vectors() {
        return root().resolve("vectors");
    }

    /** Random unit directions times {@link #NORM}, one per layer, each from its own seed. */
    static SteeringVectors vectors(Map<Integer, Long> seedsByLayer, String site) {
        Map<Integer, float[]> layers = new TreeMap<>();
        seedsByLayer.forEach((layer, seed) -> {
            Random random = new Random(seed);
            float[] v = new float[64];
            double sum = 0;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) random.nextGaussian();
                sum += v[i] * v[i];
            }
            float scale = (float) (NORM / Math.sqrt(sum));
            for (int i = 0; i < v.length; i++) {
                v[i] *= scale;
            }
            layers.put(layer, v);
        });
        return SteeringVectors.of(layers, VectorMetadata.defaults().withSite(site).withMethod("random"));
    }
}
