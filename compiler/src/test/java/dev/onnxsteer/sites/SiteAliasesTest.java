package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.SiteNotFoundException;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every alias of a site (TransformerLens hook name, Hugging Face module path) resolves to the same
 * tensor as our own name, on the GPT-2 and llama fixture layouts, the fused GPT-2 graph and the
 * real stories260K; the sublayer inputs are the LayerNorm/RMSNorm outputs.
 */
class SiteAliasesTest {
    @TempDir
    static Path temp;

    /** Resolves every listed alias of every site and checks it lands on the site's own tensor(s). */
    static int assertAliasesResolveToTheSite(SiteMap map, String how) {
        int checked = 0;
        for (Site site : map.sites()) {
            List<Value> own = map.find(site.kind(), site.layer()).stream().map(Site::value).toList();
            for (String alias : SiteNames.aliases(map, site)) {
                SiteNames.Resolved r = SiteNames.resolve(map, alias);
                assertEquals(site.name(), r.siteName(), alias);
                List<Value> resolved = map.find(r.kind(), r.layer()).stream().map(Site::value).toList();
                assertEquals(own.size(), resolved.size(), alias);
                for (int i = 0; i < own.size(); i++) {
                    assertSame(own.get(i), resolved.get(i), alias + " is the tensor of " + site.name());
                }
                if (SiteNames.parse(alias).form() == SiteNames.Form.MODULE_PATH) {
                    assertTrue(r.how().startsWith(how), alias + " resolved " + r.how());
                }
                checked++;
            }
            SiteNames.Resolved ours = SiteNames.resolve(map, site.name());
            assertEquals(site.name(), ours.siteName());
        }
        return checked;
    }

    static Map<String, List<String>> aliasTable(SiteMap map, Model model) {
        Map<String, List<String>> table = new LinkedHashMap<>();
        for (Site site : map.sites()) {
            if (site.graph() == model.graph()) {
                table.put(site.name(), SiteNames.aliases(map, site));
            }
        }
        return table;
    }

    static Map<String, List<String>> expectedAliases(int layers, String blocks, String attn, String mlp, String ln1,
            String ln2) {
        Map<String, List<String>> expected = new LinkedHashMap<>();
        for (int l = 0; l < layers; l++) {
            String b = blocks + "." + l;
            expected.put("resid_pre." + l, List.of("blocks." + l + ".hook_resid_pre"));
            expected.put("attn_in." + l, List.of("blocks." + l + ".ln1.hook_normalized", b + ln1));
            expected.put("attn_out." + l, List.of("blocks." + l + ".hook_attn_out", b + attn));
            expected.put("resid_mid." + l, List.of("blocks." + l + ".hook_resid_mid"));
            expected.put("mlp_in." + l, List.of("blocks." + l + ".ln2.hook_normalized", b + ln2));
            expected.put("mlp_out." + l, List.of("blocks." + l + ".hook_mlp_out", b + mlp));
            expected.put("resid_post." + l, List.of("blocks." + l + ".hook_resid_post", b));
        }
        return expected;
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.GPT2_TINY, Fixtures.GPT2_TINY_NOPAST})
    void gpt2AliasesResolveThroughNodeScopes(String fixture) {
        Model model = ModelReader.read(Fixtures.dir(fixture));
        SiteMap map = SiteFinder.find(model);
        assertEquals(expectedAliases(Fixtures.GPT2_LAYERS, "transformer.h", ".attn", ".mlp", ".ln_1", ".ln_2"),
                aliasTable(map, model));
        assertEquals(Fixtures.GPT2_LAYERS * 12, assertAliasesResolveToTheSite(map, "by node scope"));
        for (int l = 0; l < Fixtures.GPT2_LAYERS; l++) {
            assertEquals("/transformer/h." + l + "/ln_1/LayerNormalization_output_0",
                    map.find(SiteKind.ATTN_IN, l).get(0).value().name());
            assertEquals("/transformer/h." + l + "/ln_2/LayerNormalization_output_0",
                    map.find(SiteKind.MLP_IN, l).get(0).value().name());
            assertEquals(List.of("transformer.h." + l + ".attn.c_attn.bias"), biases(map, SiteKind.ATTN_IN, l));
            assertEquals(List.of("transformer.h." + l + ".mlp.c_fc.bias"), biases(map, SiteKind.MLP_IN, l));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.LLAMA_TINY, Fixtures.LLAMA_TINY_NOPAST, Fixtures.LLAMA_MERGED})
    void llamaAliasesResolveThroughNodeScopes(String fixture) {
        Model model = ModelReader.read(Fixtures.dir(fixture));
        SiteMap map = SiteFinder.find(model);
        Model scoped = model;
        if (fixture.equals(Fixtures.LLAMA_MERGED)) {
            // the sites live in the If branches; each branch lists the same aliases
            scoped = null;
        }
        Map<String, List<String>> expected = expectedAliases(Fixtures.LLAMA_LAYERS, "model.layers", ".self_attn", ".mlp",
                ".input_layernorm", ".post_attention_layernorm");
        if (scoped != null) {
            assertEquals(expected, aliasTable(map, scoped));
        } else {
            for (Site site : map.sites()) {
                assertEquals(expected.get(site.name()), SiteNames.aliases(map, site), site.graph().name() + " " + site.name());
            }
        }
        assertTrue(assertAliasesResolveToTheSite(map, "by node scope") >= Fixtures.LLAMA_LAYERS * 12);
        for (int l = 0; l < Fixtures.LLAMA_LAYERS; l++) {
            for (Site site : map.find(SiteKind.ATTN_IN, l)) {
                assertTrue(site.value().name().endsWith("/model/layers." + l + "/input_layernorm/Mul_1_output_0"),
                        site.value().name());
                assertEquals(List.of("q_proj", "k_proj", "v_proj"), site.projections().stream()
                        .map(p -> p.node().name().replaceAll(".*/self_attn/([a-z_]+)/MatMul", "$1")).toList());
                assertFalse(site.biasFoldable(), "llama projections have no bias");
            }
            for (Site site : map.find(SiteKind.MLP_IN, l)) {
                assertTrue(site.value().name().endsWith("/model/layers." + l + "/post_attention_layernorm/Mul_1_output_0"),
                        site.value().name());
                assertEquals(2, site.projections().size(), "gate_proj and up_proj");
            }
        }
    }

    @Test
    void fusedGpt2AliasesFallBackToStructure() {
        Model model = ModelReader.read(TestModels.fusedGpt2());
        SiteMap map = SiteFinder.find(model);
        assertTrue(assertAliasesResolveToTheSite(map, "by structure") > 50);
        assertEquals("EmbedLayerNormalization_0_output", map.find(SiteKind.ATTN_IN, 0).get(0).value().name());
        for (int l = 0; l < 5; l++) {
            Site attnIn = map.find(SiteKind.ATTN_IN, l).get(0);
            Site mlpIn = map.find(SiteKind.MLP_IN, l).get(0);
            // output 0 (normalised) of the SkipLayerNormalization whose output 3 is the residual sum
            if (l > 0) {
                assertSame(map.find(SiteKind.RESID_PRE, l).get(0).value().producer(), attnIn.value().producer());
                assertEquals(0, attnIn.value().outputIndex());
            }
            assertSame(map.find(SiteKind.RESID_MID, l).get(0).value().producer(), mlpIn.value().producer());
            assertEquals(0, mlpIn.value().outputIndex());
            assertEquals("Attention", attnIn.projections().get(0).node().opType());
            assertEquals("FastGelu", mlpIn.projections().get(0).bias().node().opType());
            assertTrue(attnIn.biasFoldable() && mlpIn.biasFoldable(), "layer " + l);
        }
        SiteNotFoundException missing = assertThrows(SiteNotFoundException.class,
                () -> SiteNames.resolve(map, "blocks.4.hook_resid_post"));
        assertTrue(missing.getMessage().contains("resid_post.4"), missing.getMessage());
    }

    @Test
    void stories260KAliasesResolveThroughNodeScopes() {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path dir = GgufImporter.importModel(gguf, temp.resolve("stories"), WeightFormat.F32, ImportFormat.ONNX).directory();
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        SiteMap map = SiteFinder.find(model);
        assertEquals(expectedAliases(5, "model.layers", ".self_attn", ".mlp", ".input_layernorm",
                ".post_attention_layernorm"), aliasTable(map, model));
        assertEquals(5 * 12, assertAliasesResolveToTheSite(map, "by node scope"));
        for (int l = 0; l < 5; l++) {
            assertEquals(3, map.find(SiteKind.ATTN_IN, l).get(0).projections().size());
            assertEquals(2, map.find(SiteKind.MLP_IN, l).get(0).projections().size());
        }
    }

    @Test
    void miniLmHasNoSeparateSublayerInputs() {
        Model model = ModelReader.read(TestModels.miniLm());
        SiteMap map = SiteFinder.find(model);
        assertTrue(map.sites().stream().noneMatch(s -> s.kind().isSublayerInput()));
        assertTrue(map.notes().stream().anyMatch(n -> n.contains("post-norm layout")), map.notes().toString());
        Site post = map.find(SiteKind.RESID_POST, 2).get(0);
        assertEquals(List.of("blocks.2.hook_resid_post", "encoder.layer.2"), SiteNames.aliases(map, post));
        assertEquals("resid_post.2", SiteNames.resolve(map, "encoder.layer.2").siteName());
        assertTrue(SiteNames.resolve(map, "encoder.layer.2").how().startsWith("by node scope"));
    }

    /**
     * The builder layout sums each block's residual in the next block's SkipSimplifiedLayerNormalization, outside
     * the block's scope: {@code model.layers.1} is still the sum a hook on that module would change, and the
     * scope's own outputs stay what they are.
     */
    @Test
    void aBlockWhoseSumIsFusedIntoTheNextNormIsItsResidPost() {
        SiteMap map = SiteFinder.find(ModelReader.read(Fixtures.dir(Fixtures.LLAMA_GENAI)));
        SiteNames.Resolved block = SiteNames.resolve(map, "model.layers.1");
        assertEquals("resid_post.1", block.siteName());
        assertTrue(block.how().contains("/model/layers.2/input_layernorm/SkipSimplifiedLayerNormalization"), block.how());
        assertEquals("mlp_out.1", SiteNames.resolve(map, "model.layers.1.mlp").siteName());
        assertTrue(SiteNames.aliases(map, map.find(SiteKind.RESID_POST, 1).get(0)).contains("model.layers.1"));
    }

    @Test
    void aScopeThatDisagreesWithTheStructureIsRefused() {
        Model model = ModelReader.read(Fixtures.dir(Fixtures.GPT2_TINY_NOPAST));
        // the bias Add of the MLP's c_proj moves out of the mlp scope: the scope now hands on the bare product
        model.graph().nodes().stream().filter(n -> n.name().equals("/transformer/h.1/mlp/c_proj/Add"))
                .findFirst().orElseThrow().rename("/transformer/h.1/elsewhere/Add");
        SiteMap map = SiteFinder.find(model);
        SiteNotFoundException e = assertThrows(SiteNotFoundException.class,
                () -> SiteNames.resolve(map, "transformer.h.1.mlp"));
        assertTrue(e.getMessage().contains("/transformer/h.1/mlp/") && e.getMessage().contains("none of which is a mlp_out"),
                e.getMessage());
        assertEquals("mlp_out.1", SiteNames.resolve(map, "blocks.1.hook_mlp_out").siteName(), "hook names are structural");
    }

    private static List<String> biases(SiteMap map, SiteKind kind, int layer) {
        List<String> names = new ArrayList<>();
        for (Projection p : map.find(kind, layer).get(0).projections()) {
            names.add(p.bias().initializer().name());
        }
        return names;
    }
}
