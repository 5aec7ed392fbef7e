package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.TinyDecoder.Attention;
import dev.onnxsteer.sites.TinyDecoder.Embedding;
import dev.onnxsteer.sites.TinyDecoder.Layout;
import dev.onnxsteer.sites.TinyDecoder.Linear;
import dev.onnxsteer.sites.TinyDecoder.Mlp;
import dev.onnxsteer.sites.TinyDecoder.Norms;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Discovery on the layouts deployed LLM graphs use (issue 17): every projection encoding, attention
 * block, norm and MLP layout gives the same sites, by tensor name and layer, with the graph's hidden
 * size, and the sublayer inputs list the projections that read them.
 */
class SiteLayoutsTest {
    static Stream<Arguments> layouts() {
        Stream.Builder<Arguments> all = Stream.builder();
        for (Linear linear : Linear.values()) {
            all.add(Arguments.of(new Layout(linear, Attention.GQA, Norms.SKIP_SIMPLIFIED, Mlp.SWIGLU)));
            all.add(Arguments.of(new Layout(linear, Attention.SOFTMAX, Norms.LAYER_NORM, Mlp.SWIGLU)));
        }
        all.add(Arguments.of(new Layout(Linear.FLOAT, Attention.MHA, Norms.SKIP_SIMPLIFIED, Mlp.SWIGLU)));
        all.add(Arguments.of(new Layout(Linear.MATMUL_NBITS, Attention.MHA, Norms.SKIP_SIMPLIFIED, Mlp.SWIGLU)));
        all.add(Arguments.of(new Layout(Linear.FLOAT, Attention.SOFTMAX, Norms.SKIP_LAYER_NORM, Mlp.FAST_GELU)));
        all.add(Arguments.of(new Layout(Linear.FLOAT, Attention.SOFTMAX, Norms.SKIP_LAYER_NORM, Mlp.BIAS_GELU)));
        all.add(Arguments.of(new Layout(Linear.MATMUL_INTEGER, Attention.GQA, Norms.SKIP_LAYER_NORM, Mlp.FAST_GELU)));
        return all.build();
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void everySiteIsFoundWithItsLayerHiddenSizeAndProjections(Layout layout) {
        Model model = TinyDecoder.build(layout);
        SiteMap map = SiteFinder.find(model);
        assertEquals(TinyDecoder.LAYERS, map.layerCount(), map.notes().toString());
        assertEquals(TinyDecoder.HIDDEN, map.hiddenSize());
        assertEquals(expectedNames(layout.norms()), SiteChecks.tensorNames(map, model.graph()), map.notes().toString());
        assertTrue(map.sites().stream().allMatch(s -> s.hiddenSize() == TinyDecoder.HIDDEN), map.sites().toString());
        assertTrue(map.notes().stream().noneMatch(n -> n.contains("left out")), map.notes().toString());

        Projection.Encoding encoding = Projection.Encoding.valueOf(layout.linear().name());
        for (int layer = 0; layer < TinyDecoder.LAYERS; layer++) {
            List<Projection> attn = map.find(SiteKind.ATTN_IN, layer).get(0).projections();
            List<String> attnNames = layout.attention() == Attention.MHA ? List.of("q_proj", "k_proj", "v_proj") : List.of("qkv_proj");
            assertEquals(attnNames, attn.stream().map(p -> p.node().name().split("/")[4]).toList(), "attn_in." + layer);
            List<Long> widths = layout.attention() == Attention.MHA
                    ? List.of((long) TinyDecoder.HIDDEN, (long) TinyDecoder.HEAD, (long) TinyDecoder.HEAD)
                    : List.of((long) TinyDecoder.QKV);
            assertEquals(widths, attn.stream().map(Projection::outputSize).toList(), "attn_in." + layer);
            List<Projection> mlp = map.find(SiteKind.MLP_IN, layer).get(0).projections();
            assertEquals(layout.mlp() == Mlp.SWIGLU ? List.of("gate_proj", "up_proj") : List.of("up_proj"),
                    mlp.stream().map(p -> p.node().name().split("/")[4]).toList(), "mlp_in." + layer);
            assertTrue(mlp.stream().allMatch(p -> p.outputSize() == TinyDecoder.FFN), "mlp_in." + layer);
            for (Projection p : concat(attn, mlp)) {
                assertEquals(encoding, p.encoding(), p.node().toString());
            }
            // the gelu MLPs' up_proj bias is the FastGelu/BiasGelu bias input, whatever the encoding
            boolean gelu = layout.mlp() != Mlp.SWIGLU;
            assertEquals(gelu, mlp.get(0).hasBias(), "mlp_in." + layer);
        }
    }

    @ParameterizedTest
    @EnumSource(Embedding.class)
    void aQuantizedEmbeddingTableStartsTheStreamWithItsRowWidth(Embedding embedding) {
        Layout layout = new Layout(embedding == Embedding.INT8 ? Linear.MATMUL_INTEGER : Linear.MATMUL_NBITS,
                Attention.GQA, Norms.SKIP_SIMPLIFIED, Mlp.SWIGLU);
        Model model = TinyDecoder.build(layout, embedding);
        SiteMap map = SiteFinder.find(model);
        assertEquals(TinyDecoder.HIDDEN, map.hiddenSize(), map.notes().toString());
        assertEquals(expectedNames(layout.norms()), SiteChecks.tensorNames(map, model.graph()), map.notes().toString());
    }

    /** The names {@link TinyDecoder} gives the sites of a layout with these norms. */
    private static Map<String, String> expectedNames(Norms norms) {
        boolean skip = norms != Norms.LAYER_NORM;
        Map<String, String> expected = new LinkedHashMap<>();
        for (int l = 0; l < TinyDecoder.LAYERS; l++) {
            String p = "/model/layers." + l;
            String in = p + "/input_layernorm/";
            String post = p + "/post_attention_layernorm/";
            String next = "/model/layers." + (l + 1) + "/input_layernorm/";
            expected.put("resid_pre." + l, l == 0 ? "/model/embed_tokens/Gather_output_0" : sum(in, skip));
            expected.put("attn_in." + l, l == 0 ? in + "LayerNorm_output_0" : normed(in, skip));
            expected.put("attn_out." + l, p + "/attn/o_proj/output_0");
            expected.put("resid_mid." + l, sum(post, skip));
            expected.put("mlp_in." + l, normed(post, skip));
            expected.put("mlp_out." + l, p + "/mlp/down_proj/output_0");
            if (l + 1 < TinyDecoder.LAYERS) {
                expected.put("resid_post." + l, sum(next, skip));
            } else if (!skip) {
                expected.put("resid_post." + l, "/model/norm/Add_output_0");
            }
        }
        return expected;
    }

    private static String sum(String prefix, boolean skip) {
        return prefix + (skip ? "SkipLayerNorm_output_3" : "Add_output_0");
    }

    private static String normed(String prefix, boolean skip) {
        return prefix + (skip ? "SkipLayerNorm_output_0" : "LayerNorm_output_0");
    }

    private static List<Projection> concat(List<Projection> a, List<Projection> b) {
        return Stream.concat(a.stream(), b.stream()).toList();
    }
}
