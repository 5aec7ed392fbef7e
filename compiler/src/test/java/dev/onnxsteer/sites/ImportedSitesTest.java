package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.ArchitectureFixtures;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.LlamaConfig;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Site discovery on GGUF imports (torch.onnx-style llama names): stories260K, and the qwen2, phi3 and gemma fixtures. */
class ImportedSitesTest {
    @TempDir
    Path temp;

    @Test
    void importedStoriesHasFiveLlamaLayers() {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path dir = GgufImporter.importModel(gguf, temp.resolve("stories"), WeightFormat.F32, ImportFormat.ONNX).directory();
        Model model = ModelReader.read(dir);
        SiteMap map = SiteFinder.find(model);
        assertEquals("pre-norm decoder (llama)", map.layout());
        assertEquals(5, map.layerCount());
        assertEquals(64, map.hiddenSize());
        assertEquals(List.of(), map.notes());
        Map<String, String> expected = new LinkedHashMap<>();
        for (int layer = 0; layer < 5; layer++) {
            String p = "/model/layers." + layer;
            expected.put("resid_pre." + layer, layer == 0 ? "/model/embed_tokens/Gather_output_0"
                    : "/model/layers." + (layer - 1) + "/Add_1_output_0");
            expected.put("attn_in." + layer, p + "/input_layernorm/Mul_1_output_0");
            expected.put("attn_out." + layer, p + "/self_attn/o_proj/MatMul_output_0");
            expected.put("resid_mid." + layer, p + "/Add_output_0");
            expected.put("mlp_in." + layer, p + "/post_attention_layernorm/Mul_1_output_0");
            expected.put("mlp_out." + layer, p + "/mlp/down_proj/MatMul_output_0");
            expected.put("resid_post." + layer, p + "/Add_1_output_0");
        }
        assertEquals(expected, SiteChecks.tensorNames(map, model.graph()));
        assertTrue(map.sites().stream().noneMatch(Site::biasFoldable), "llama has no biases");
        SiteChecks.assertChained(map, model.graph());
        SiteChecks.assertSitesAddUp(dir.resolve("model.onnx"), temp, 512, 0);
    }

    /** qwen2's biased q/k/v, phi3's split fused projections and gemma's scaled embedding and GELU leave the llama sites where they were. */
    @Test
    void importedQwen2Phi3AndGemmaHaveTheLlamaSites() {
        for (String arch : List.of(LlamaConfig.QWEN2, LlamaConfig.PHI3, LlamaConfig.GEMMA)) {
            Path gguf = ArchitectureFixtures.write(arch, temp.resolve(arch + ".gguf"));
            Path dir = GgufImporter.importModel(gguf, temp.resolve(arch), WeightFormat.F32, ImportFormat.ONNX).directory();
            Model model = ModelReader.read(dir);
            SiteMap map = SiteFinder.find(model);
            assertEquals("pre-norm decoder (llama)", map.layout(), arch);
            assertEquals(ArchitectureFixtures.LAYERS, map.layerCount(), arch);
            assertEquals(ArchitectureFixtures.HIDDEN, map.hiddenSize(), arch);
            assertEquals(List.of(), map.notes(), arch);
            for (int layer = 0; layer < ArchitectureFixtures.LAYERS; layer++) {
                String p = "/model/layers." + layer;
                Map<String, String> names = SiteChecks.tensorNames(map, model.graph());
                assertEquals(p + "/self_attn/o_proj/MatMul_output_0", names.get("attn_out." + layer), arch);
                assertEquals(p + "/mlp/down_proj/MatMul_output_0", names.get("mlp_out." + layer), arch);
                assertEquals(p + "/Add_1_output_0", names.get("resid_post." + layer), arch);
            }
            boolean biased = model.graph().nodes().stream().anyMatch(n -> n.name().equals("/model/layers.0/self_attn/q_proj/Add"));
            assertEquals(arch.equals(LlamaConfig.QWEN2), biased, arch + ": q_proj bias Add");
            SiteChecks.assertChained(map, model.graph());
            SiteChecks.assertSitesAddUp(dir.resolve("model.onnx"), temp, ArchitectureFixtures.VOCAB, 0);
        }
    }

    /** gemma2 norms each sublayer's output before the residual add: the sublayer sites are those norms' outputs. */
    @Test
    void importedGemma2SublayerSitesAreItsPostNorms() {
        Path gguf = ArchitectureFixtures.write(LlamaConfig.GEMMA2, temp.resolve("gemma2.gguf"));
        Path dir = GgufImporter.importModel(gguf, temp.resolve("gemma2"), WeightFormat.F32, ImportFormat.ONNX).directory();
        Model model = ModelReader.read(dir);
        SiteMap map = SiteFinder.find(model);
        assertEquals(ArchitectureFixtures.LAYERS, map.layerCount());
        assertEquals(List.of(), map.notes());
        Map<String, String> names = SiteChecks.tensorNames(map, model.graph());
        for (int layer = 0; layer < ArchitectureFixtures.LAYERS; layer++) {
            String p = "/model/layers." + layer;
            assertEquals(p + "/post_attention_layernorm/Mul_1_output_0", names.get("attn_out." + layer));
            assertEquals(p + "/post_feedforward_layernorm/Mul_1_output_0", names.get("mlp_out." + layer));
            assertEquals(p + "/Add_1_output_0", names.get("resid_post." + layer));
        }
        SiteChecks.assertChained(map, model.graph());
        SiteChecks.assertSitesAddUp(dir.resolve("model.onnx"), temp, ArchitectureFixtures.VOCAB, 0);
    }
}
