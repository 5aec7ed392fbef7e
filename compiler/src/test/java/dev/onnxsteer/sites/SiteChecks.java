package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.nio.file.Path;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Checks that discovered sites are what their names say, by running the model under ONNX Runtime
 * with every site of the main graph exposed as an extra output: resid_mid = resid_pre + attn_out
 * and resid_post = resid_mid + mlp_out (plus a bias added inside a fused join; through the
 * LayerNorm in post-norm layouts), resid_pre.(L+1) is resid_post.L, and every site has
 * batch x seq x hidden values.
 */
final class SiteChecks {
    private SiteChecks() {}

    /** Names of the sites of {@code map} in {@code graph}, by site name ("resid_post.3" to tensor name). */
    static Map<String, String> tensorNames(SiteMap map, Graph graph) {
        Map<String, String> names = new LinkedHashMap<>();
        for (Site site : map.sites()) {
            if (site.graph() == graph) {
                names.put(site.name(), site.value().name());
            }
        }
        return names;
    }

    /** Structural invariants: resid_pre.(L+1) is the same value as resid_post.L; hidden sizes match. */
    static void assertChained(SiteMap map, Graph graph) {
        for (int layer = 0; layer + 1 < map.layerCount(); layer++) {
            Optional<Site> post = site(map, graph, SiteKind.RESID_POST, layer);
            Optional<Site> next = site(map, graph, SiteKind.RESID_PRE, layer + 1);
            if (post.isPresent() && next.isPresent()) {
                assertSame(post.get().value(), next.get().value(), "resid_pre." + (layer + 1) + " is resid_post." + layer);
                assertEquals(post.get().bias() == null, next.get().bias() == null,
                        "resid_pre." + (layer + 1) + " and resid_post." + layer + " fold into the same bias");
            }
        }
        for (Site site : map.sites()) {
            assertEquals(map.hiddenSize(), site.hiddenSize(), site.name() + " hidden size");
            if (site.bias() != null) {
                assertEquals(map.hiddenSize(), site.bias().initializer().initializer().elementCount(),
                        site.name() + " bias length");
                assertSame(site.bias().initializer(), site.bias().node().input(site.bias().inputIndex()),
                        site.name() + " bias slot points at its node input");
            }
        }
    }

    /**
     * Re-reads {@code source}, exposes its main-graph sites as outputs, runs it under ONNX Runtime
     * and checks the arithmetic between sites. {@code layerNormEps} is used for post-norm layouts.
     */
    static void assertSitesAddUp(Path source, Path workDir, int vocab, double layerNormEps) {
        Model model = ModelReader.read(source);
        SiteMap map = SiteFinder.find(model);
        Graph graph = model.graph();
        Set<Value> exposed = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Site site : map.sites()) {
            if (site.graph() != graph || site.value().isGraphOutput() || !exposed.add(site.value())) {
                continue;
            }
            if (site.value().type() == null) {
                site.value().setType(new ValueType.Tensor(DataType.FLOAT, null));
            }
            graph.addOutput(site.value());
        }
        Path file = workDir.resolve("sites/model.onnx");
        ModelWriter.write(model, file);
        OrtRunner.Sizes sizes = OrtRunner.Sizes.small(vocab);
        Map<String, byte[]> raw = OrtRunner.run(file, sizes, 11, false);
        Map<String, float[]> values = new LinkedHashMap<>();
        raw.forEach((name, bytes) -> values.put(name, OrtRunner.floats(bytes)));
        long expectedLength = sizes.batch() * sizes.seq() * map.hiddenSize();
        for (Site site : map.sites()) {
            if (site.graph() == graph) {
                float[] v = values.get(site.value().name());
                assertNotNull(v, site.name() + " came back from ONNX Runtime");
                assertEquals(expectedLength, v.length, site.name() + " has batch x seq x hidden values");
            }
        }
        boolean postNorm = map.layout().contains("post-norm");
        int checked = 0;
        for (int layer = 0; layer < map.layerCount(); layer++) {
            Optional<Site> pre = site(map, graph, SiteKind.RESID_PRE, layer);
            Optional<Site> attn = site(map, graph, SiteKind.ATTN_OUT, layer);
            Optional<Site> mid = site(map, graph, SiteKind.RESID_MID, layer);
            Optional<Site> mlp = site(map, graph, SiteKind.MLP_OUT, layer);
            Optional<Site> post = site(map, graph, SiteKind.RESID_POST, layer);
            if (pre.isPresent() && attn.isPresent() && mid.isPresent()) {
                assertJoin(values, pre.get(), attn.get(), mid.get(), postNorm, layerNormEps, map.hiddenSize());
                checked++;
            }
            if (mid.isPresent() && mlp.isPresent() && post.isPresent()) {
                assertJoin(values, mid.get(), mlp.get(), post.get(), postNorm, layerNormEps, map.hiddenSize());
                checked++;
            }
        }
        assertTrue(checked >= map.layerCount() * 2 - 1, "checked " + checked + " joins for " + map.layerCount() + " layers");
    }

    private static void assertJoin(Map<String, float[]> values, Site residual, Site sublayer, Site sum,
            boolean postNorm, double eps, long hidden) {
        float[] a = values.get(residual.value().name());
        float[] b = values.get(sublayer.value().name());
        float[] expected = new float[a.length];
        float[] joinBias = sublayer.bias() != null && sublayer.bias().node().opType().startsWith("Skip")
                ? sublayer.bias().initializer().initializer().toFloats() : null;
        for (int i = 0; i < a.length; i++) {
            expected[i] = a[i] + b[i] + (joinBias == null ? 0 : joinBias[(int) (i % hidden)]);
        }
        if (postNorm) {
            expected = layerNorm(expected, (int) hidden, sum.value(), eps);
        }
        float[] actual = values.get(sum.value().name());
        double scale = 1;
        for (float f : actual) {
            scale = Math.max(scale, Math.abs(f));
        }
        double diff = OrtRunner.maxAbsDiff(expected, actual);
        assertTrue(diff <= 1e-4 * scale, sum.name() + " = " + (postNorm ? "LayerNorm(" : "") + residual.name() + " + "
                + sublayer.name() + (postNorm ? ")" : "") + ": max difference " + diff);
    }

    /** LayerNorm over the last axis with the weight and bias of the decomposed norm that produces {@code out}. */
    private static float[] layerNorm(float[] x, int hidden, Value out, double eps) {
        Node addBias = out.producer();
        Value bias = initializerInput(addBias);
        Node mulWeight = (addBias.input(0).isInitializer() ? addBias.input(1) : addBias.input(0)).producer();
        Value weight = initializerInput(mulWeight);
        float[] w = weight.initializer().toFloats();
        float[] b = bias.initializer().toFloats();
        float[] y = new float[x.length];
        for (int row = 0; row < x.length / hidden; row++) {
            double mean = 0;
            for (int i = 0; i < hidden; i++) {
                mean += x[row * hidden + i];
            }
            mean /= hidden;
            double var = 0;
            for (int i = 0; i < hidden; i++) {
                double d = x[row * hidden + i] - mean;
                var += d * d;
            }
            var /= hidden;
            double inv = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < hidden; i++) {
                y[row * hidden + i] = (float) ((x[row * hidden + i] - mean) * inv * w[i] + b[i]);
            }
        }
        return y;
    }

    private static Value initializerInput(Node node) {
        return node.inputs().stream().filter(v -> v != null && v.isInitializer()).findFirst()
                .orElseThrow(() -> new AssertionError(node + " has no initializer input"));
    }

    static Optional<Site> site(SiteMap map, Graph graph, SiteKind kind, int layer) {
        return map.sites().stream().filter(s -> s.graph() == graph && s.kind() == kind && s.layer() == layer).findFirst();
    }

    static List<String> kindsAt(SiteMap map, int layer) {
        return map.sites().stream().filter(s -> s.layer() == layer).map(s -> s.kind().label()).toList();
    }
}
