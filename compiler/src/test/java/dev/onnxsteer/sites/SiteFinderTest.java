package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.SiteNotFoundException;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SiteFinderTest {
    @TempDir
    Path temp;

    @Test
    void fusedGpt2SitesAreTheSkipLayerNormSums() {
        Model model = ModelReader.read(TestModels.fusedGpt2());
        SiteMap map = SiteFinder.find(model);
        assertEquals("fused pre-norm decoder (onnxruntime SkipLayerNormalization)", map.layout());
        assertEquals(5, map.layerCount());
        assertEquals(32, map.hiddenSize());

        Map<String, String> expected = fusedGpt2Names();
        assertEquals(expected, SiteChecks.tensorNames(map, model.graph()));

        // the last block's residual sum stays inside the final SkipLayerNormalization
        SiteNotFoundException missing = assertThrows(SiteNotFoundException.class, () -> map.find(SiteKind.RESID_POST, 4));
        assertTrue(missing.getMessage().contains("optional output 3"), missing.getMessage());
        assertTrue(map.notes().stream().anyMatch(n -> n.contains("resid_post.4")), map.notes().toString());

        // every bias slot is the SkipLayerNormalization's bias input (index 4); none for the embeddings
        assertNull(map.find(SiteKind.RESID_PRE, 0).get(0).bias());
        for (Site site : map.sites()) {
            if ((site.layer() > 0 || site.kind() != SiteKind.RESID_PRE) && !site.kind().isSublayerInput()) {
                assertEquals("SkipLayerNormalization", site.bias().node().opType(), site.name());
                assertEquals(4, site.bias().inputIndex(), site.name());
            }
        }
        assertEquals("SkipLayerNorm_AddBias_3", map.find(SiteKind.RESID_POST, 1).get(0).bias().node().name());
        SiteChecks.assertChained(map, model.graph());
    }

    @Test
    void fusedGpt2SitesAddUpUnderOnnxRuntime() {
        SiteChecks.assertSitesAddUp(TestModels.fusedGpt2(), temp, 1000, 0);
    }

    @Test
    void miniLmIsAPostNormEncoder() {
        Model model = ModelReader.read(TestModels.miniLm());
        SiteMap map = SiteFinder.find(model);
        assertEquals("post-norm encoder (bert)", map.layout());
        assertEquals(6, map.layerCount());
        assertEquals(384, map.hiddenSize());
        assertEquals(1, map.notes().size(), map.notes().toString());
        assertTrue(map.notes().get(0).contains("no separate attn_in/mlp_in"), map.notes().toString());

        Map<String, String> expected = new LinkedHashMap<>();
        for (int layer = 0; layer < 6; layer++) {
            String p = "/encoder/layer." + layer;
            expected.put("resid_pre." + layer, layer == 0 ? "/embeddings/LayerNorm/Add_1_output_0"
                    : "/encoder/layer." + (layer - 1) + "/output/LayerNorm/Add_1_output_0");
            expected.put("attn_out." + layer, p + "/attention/output/dense/Add_output_0");
            expected.put("resid_mid." + layer, p + "/attention/output/LayerNorm/Add_1_output_0");
            expected.put("mlp_out." + layer, p + "/output/dense/Add_output_0");
            expected.put("resid_post." + layer, layer == 5 ? "last_hidden_state" : p + "/output/LayerNorm/Add_1_output_0");
        }
        assertEquals(expected, SiteChecks.tensorNames(map, model.graph()));

        // behind a LayerNorm the residual sites cannot take a bias; the dense outputs can
        for (Site site : map.sites()) {
            boolean sublayer = site.kind() == SiteKind.ATTN_OUT || site.kind() == SiteKind.MLP_OUT;
            assertEquals(sublayer, site.biasFoldable(), site.name());
        }
        assertEquals("encoder.layer.2.output.dense.bias", map.find(SiteKind.MLP_OUT, 2).get(0).bias().initializer().name());
        assertEquals(0, map.find(SiteKind.MLP_OUT, 2).get(0).bias().inputIndex());
        SiteChecks.assertChained(map, model.graph());
    }

    @Test
    void miniLmSitesAddUpUnderOnnxRuntime() {
        SiteChecks.assertSitesAddUp(TestModels.miniLm().resolve("model.onnx"), temp, 30000, 1e-12);
    }

    @Test
    void layerWhoseNamesDisagreeWithTheStructureIsLeftOutWithANote() {
        Model model = ModelReader.read(TestModels.fusedGpt2());
        model.graph().find("transformer.h.2.attn.c_attn.weight").orElseThrow().rename("transformer.h.7.attn.c_attn.weight");
        model.graph().find("transformer.h.2.attn.c_proj.weight").orElseThrow().rename("transformer.h.7.attn.c_proj.weight");
        SiteMap map = SiteFinder.find(model);
        assertEquals(5, map.layerCount());
        assertEquals(List.of(), SiteChecks.kindsAt(map, 2));
        assertEquals(List.of("resid_pre", "attn_in", "attn_out", "resid_mid", "mlp_in", "mlp_out", "resid_post"),
                SiteChecks.kindsAt(map, 1));
        assertTrue(map.notes().stream().anyMatch(n -> n.contains("layer 2 is left out") && n.contains("layer 7")),
                map.notes().toString());
    }

    @Test
    void consistentlyOffsetNamesKeepStructuralIndices() {
        Model model = ModelReader.read(TestModels.fusedGpt2());
        for (int layer = 4; layer >= 0; layer--) {
            for (String weight : List.of("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")) {
                model.graph().find("transformer.h." + layer + "." + weight).orElseThrow()
                        .rename("offset.h." + (layer + 1) + "." + weight);
            }
        }
        SiteMap map = SiteFinder.find(model);
        assertEquals(fusedGpt2Names(), SiteChecks.tensorNames(map, model.graph()),
                "every layer keeps its sites under its structural index");
        assertTrue(map.notes().stream().anyMatch(n -> n.contains("names number the layers from 1")), map.notes().toString());
    }

    /** The site tensors of the fused GPT-2, by site name (resid_post.4 stays inside the final norm). */
    private static Map<String, String> fusedGpt2Names() {
        Map<String, String> expected = new LinkedHashMap<>();
        for (int layer = 0; layer < 5; layer++) {
            expected.put("resid_pre." + layer, layer == 0 ? "EmbedLayerNormalization_0_embedding_sum"
                    : "/transformer/h." + (layer - 1) + "/Add_1_output_0");
            expected.put("attn_in." + layer, layer == 0 ? "EmbedLayerNormalization_0_output"
                    : "/transformer/h." + layer + "/ln_1/Add_1_output_0");
            expected.put("attn_out." + layer, "GptAttention_" + layer + "_matmul_output");
            expected.put("resid_mid." + layer, "/transformer/h." + layer + "/Add_output_0");
            expected.put("mlp_in." + layer, "FullyConnect_MatMul_" + (2 * layer) + "_input");
            expected.put("mlp_out." + layer, "FullyConnect_MatMul_" + (2 * layer + 1) + "_output");
            if (layer < 4) {
                expected.put("resid_post." + layer, "/transformer/h." + layer + "/Add_1_output_0");
            }
        }
        return expected;
    }

    @Test
    void graphWithoutEmbeddingHasNoSitesAndSaysWhy() {
        Model model = new Model(new dev.onnxsteer.ir.Graph("empty"));
        SiteMap map = SiteFinder.find(model);
        assertEquals(0, map.layerCount());
        assertEquals("unrecognised", map.layout());
        assertTrue(map.notes().get(0).contains("token embedding"), map.notes().toString());
    }
}
