package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Site discovery on the generated fixtures (torch.onnx-style Llama and GPT-2, and an Optimum merged decoder). */
class FixtureSitesTest {
    @TempDir
    Path temp;

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.LLAMA_TINY, Fixtures.LLAMA_TINY_NOPAST})
    void llamaSitesAreTheLayerAdds(String fixture) {
        Model model = ModelReader.read(Fixtures.dir(fixture));
        SiteMap map = SiteFinder.find(model);
        assertEquals("pre-norm decoder (llama)", map.layout());
        assertEquals(Fixtures.LLAMA_LAYERS, map.layerCount());
        assertEquals(Fixtures.LLAMA_HIDDEN, map.hiddenSize());
        assertEquals(List.of(), map.notes());
        assertEquals(llamaNames("", Fixtures.LLAMA_LAYERS), SiteChecks.tensorNames(map, model.graph()));
        assertTrue(map.sites().stream().noneMatch(Site::biasFoldable), "llama has no biases");
        SiteChecks.assertChained(map, model.graph());
        SiteChecks.assertSitesAddUp(Fixtures.dir(fixture).resolve("model.onnx"), temp, Fixtures.VOCAB, 0);
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.GPT2_TINY, Fixtures.GPT2_TINY_NOPAST})
    void gpt2SitesFoldIntoTheProjectionBiases(String fixture) {
        Model model = ModelReader.read(Fixtures.dir(fixture));
        SiteMap map = SiteFinder.find(model);
        assertEquals("pre-norm decoder (gpt2)", map.layout());
        assertEquals(Fixtures.GPT2_LAYERS, map.layerCount());
        assertEquals(Fixtures.GPT2_HIDDEN, map.hiddenSize());
        assertEquals(List.of(), map.notes());
        Map<String, String> expected = new LinkedHashMap<>();
        for (int layer = 0; layer < Fixtures.GPT2_LAYERS; layer++) {
            String p = "/transformer/h." + layer;
            expected.put("resid_pre." + layer, layer == 0 ? "/transformer/Add_output_0"
                    : "/transformer/h." + (layer - 1) + "/Add_1_output_0");
            expected.put("attn_in." + layer, p + "/ln_1/LayerNormalization_output_0");
            expected.put("attn_out." + layer, p + "/attn/c_proj/Add_output_0");
            expected.put("resid_mid." + layer, p + "/Add_output_0");
            expected.put("mlp_in." + layer, p + "/ln_2/LayerNormalization_output_0");
            expected.put("mlp_out." + layer, p + "/mlp/c_proj/Add_output_0");
            expected.put("resid_post." + layer, p + "/Add_1_output_0");
        }
        assertEquals(expected, SiteChecks.tensorNames(map, model.graph()));
        for (Site site : map.sites()) {
            if (site.kind() == SiteKind.RESID_PRE && site.layer() == 0) {
                assertNull(site.bias(), "the embeddings have no bias");
                continue;
            }
            if (site.kind().isSublayerInput()) {
                assertNull(site.bias(), site.name() + " folds into the projections reading it, not a bias slot");
                assertEquals(1, site.projections().size(), site.name() + ": c_attn or c_fc");
                continue;
            }
            boolean attention = site.kind() == SiteKind.ATTN_OUT || site.kind() == SiteKind.RESID_MID;
            int owner = site.kind() == SiteKind.RESID_PRE ? site.layer() - 1 : site.layer();
            assertEquals("transformer.h." + owner + (attention ? ".attn" : ".mlp") + ".c_proj.bias",
                    site.bias().initializer().name(), site.name());
        }
        SiteChecks.assertChained(map, model.graph());
        SiteChecks.assertSitesAddUp(Fixtures.dir(fixture).resolve("model.onnx"), temp, Fixtures.VOCAB, 0);
    }

    @org.junit.jupiter.api.Test
    void mergedDecoderHasSitesInBothBranches() {
        Model model = ModelReader.read(Fixtures.dir(Fixtures.LLAMA_MERGED));
        SiteMap map = SiteFinder.find(model);
        assertEquals("merged decoder (If on use_cache_branch): pre-norm decoder (llama)", map.layout());
        assertEquals(Fixtures.LLAMA_LAYERS, map.layerCount());
        assertEquals(Fixtures.LLAMA_HIDDEN, map.hiddenSize());
        assertEquals(List.of(), map.notes());
        Node branch = model.graph().nodes().stream().filter(n -> n.is("If")).findFirst().orElseThrow();
        List<Graph> branches = branch.subgraphs();
        assertEquals(List.of(Fixtures.WITH_PAST_BRANCH, Fixtures.NO_PAST_BRANCH),
                branches.stream().map(Graph::name).toList());
        for (Graph graph : branches) {
            String prefix = graph.name();
            assertEquals(llamaNames(prefix, Fixtures.LLAMA_LAYERS), SiteChecks.tensorNames(map, graph), graph.name());
            for (Site site : map.sites()) {
                if (site.graph() == graph) {
                    assertSame(graph, site.value().graph(), site.name() + " lives in its branch");
                }
            }
            SiteChecks.assertChained(map, graph);
        }
        List<Site> copies = map.find(SiteKind.RESID_POST, 2);
        assertEquals(2, copies.size(), "one resid_post.2 per branch");
        assertNotSame(copies.get(0).graph(), copies.get(1).graph());
        assertEquals(2 * 7 * Fixtures.LLAMA_LAYERS, map.sites().size());
    }

    private static Map<String, String> llamaNames(String prefix, int layers) {
        Map<String, String> names = new LinkedHashMap<>();
        for (int layer = 0; layer < layers; layer++) {
            String p = prefix + "/model/layers." + layer;
            names.put("resid_pre." + layer, layer == 0 ? prefix + "/model/embed_tokens/Gather_output_0"
                    : prefix + "/model/layers." + (layer - 1) + "/Add_1_output_0");
            names.put("attn_in." + layer, p + "/input_layernorm/Mul_1_output_0");
            names.put("attn_out." + layer, p + "/self_attn/o_proj/MatMul_output_0");
            names.put("resid_mid." + layer, p + "/Add_output_0");
            names.put("mlp_in." + layer, p + "/post_attention_layernorm/Mul_1_output_0");
            names.put("mlp_out." + layer, p + "/mlp/down_proj/MatMul_output_0");
            names.put("resid_post." + layer, p + "/Add_1_output_0");
        }
        return names;
    }
}
