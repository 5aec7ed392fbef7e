package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code import --format genai}: the graph is the onnxruntime-genai builder's layout (fused norms, packed q|k|v into
 * GroupQueryAttention, rotary fused or through RotaryEmbedding by head size, no position_ids), genai_config.json
 * describes it, and site discovery finds every site of every layer where the standard import has it.
 */
class GenaiImportTest {
    @TempDir
    Path tmp;

    private static final Path STORIES = TestPaths.sharedModel("stories260K/stories260K.gguf");
    private static final Path TINY_LLAMA = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-F32.gguf");

    private static Map<String, Integer> opCounts(Model model) {
        Map<String, Integer> counts = new TreeMap<>();
        for (Node n : model.graph().nodes()) {
            counts.merge(n.opType(), 1, Integer::sum);
        }
        return counts;
    }

    private static List<Node> nodes(Model model, String op) {
        return model.graph().nodes().stream().filter(n -> n.opType().equals(op)).toList();
    }

    /** stories260K has head_size 8: rotary through RotaryEmbedding, GQA with do_rotary=0. */
    @Test
    void stories260KIsTheBuilderLayoutWithRotaryEmbedding() throws Exception {
        Path dir = tmp.resolve("stories-genai");
        GgufImporter.Result result = GgufImporter.importModel(STORIES, dir, WeightFormat.F32, ImportFormat.GENAI);
        assertEquals(ImportFormat.GENAI, result.format());
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        assertEquals(21L, model.opsets().get(""));
        assertEquals(1L, model.opsets().get("com.microsoft"));
        List<String> inputs = model.graph().inputs().stream().map(Value::name).toList();
        assertEquals(List.of("input_ids", "attention_mask", "past_key_values.0.key", "past_key_values.0.value"), inputs.subList(0, 4));
        assertFalse(inputs.contains("position_ids"));
        assertEquals(2 + 2 * 5, inputs.size());
        Map<String, Integer> ops = opCounts(model);
        assertEquals(1, ops.get("SimplifiedLayerNormalization"));
        assertEquals(2 * 5, ops.get("SkipSimplifiedLayerNormalization"), "4 input norms, 5 post-attention norms, the final norm");
        assertEquals(5, ops.get("GroupQueryAttention"));
        assertEquals(10, ops.get("RotaryEmbedding"));
        assertEquals(5 * 5 + 1, ops.get("MatMul"), "qkv, o, gate, up, down per layer, lm_head");
        for (String standardOnly : List.of("Pow", "ReduceMean", "Sqrt", "Softmax", "Transpose", "Concat")) {
            assertFalse(ops.containsKey(standardOnly), standardOnly + " belongs to the standard layout: " + ops);
        }
        for (Node gqa : nodes(model, "GroupQueryAttention")) {
            assertEquals(0, gqa.intAttribute("do_rotary", -1));
            assertEquals(8, gqa.intAttribute("num_heads", -1));
            assertEquals(4, gqa.intAttribute("kv_num_heads", -1));
            assertEquals("com.microsoft", gqa.domain());
        }
        Node qkv = model.graph().nodes().stream().filter(n -> n.name().equals("/model/layers.0/attn/qkv_proj/MatMul")).findFirst().orElseThrow();
        assertEquals(List.of(64L, 64L + 2 * 32L), List.of(qkv.input(1).initializer().dims()[0], qkv.input(1).initializer().dims()[1]));
        Node last = nodes(model, "SkipSimplifiedLayerNormalization").get(9);
        assertEquals("/model/layers.5/final_norm_layernorm/SkipSimplifiedLayerNormalization", last.name());
        assertEquals(4, last.outputs().size(), "the final norm exposes the residual sum, unlike the builder's, so the last block is steerable");

        JsonNode genai = new ObjectMapper().readTree(dir.resolve(GenaiConfig.FILE).toFile());
        JsonNode decoder = genai.at("/model/decoder");
        assertEquals(8, decoder.get("head_size").asInt());
        assertEquals(64, decoder.get("hidden_size").asInt());
        assertEquals(8, decoder.get("num_attention_heads").asInt());
        assertEquals(4, decoder.get("num_key_value_heads").asInt());
        assertEquals(5, decoder.get("num_hidden_layers").asInt());
        assertEquals("past_key_values.%d.key", decoder.at("/inputs/past_key_names").asText());
        assertEquals("present.%d.value", decoder.at("/outputs/present_value_names").asText());
        assertEquals("model.onnx", decoder.get("filename").asText());
        assertEquals(512, genai.at("/model/vocab_size").asInt());
        assertEquals(1, genai.at("/model/bos_token_id").asInt());
        assertEquals(2, genai.at("/model/eos_token_id").asInt());
        assertEquals(genai.at("/model/context_length").asInt(), genai.at("/search/max_length").asInt());
        assertEquals("llama", genai.at("/model/type").asText());
        for (String side : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")) {
            assertTrue(Files.isRegularFile(dir.resolve(side)), side);
        }
    }

    /** Every site kind in every layer, with the genai tensor the builder layout gives it. */
    @Test
    void siteDiscoveryFindsEverySiteWithItsRole() {
        Path dir = tmp.resolve("stories-sites");
        GgufImporter.importModel(STORIES, dir, WeightFormat.F32, ImportFormat.GENAI);
        SiteMap sites = SiteFinder.find(ModelReader.read(dir.resolve("model.onnx")));
        assertEquals(5, sites.layerCount());
        assertEquals(64, sites.hiddenSize());
        for (int l = 0; l < 5; l++) {
            String p = "/model/layers." + l;
            String next = l < 4 ? "/model/layers." + (l + 1) + "/input_layernorm" : "/model/layers.5/final_norm_layernorm";
            assertEquals(p + "/attn/o_proj/MatMul/output_0", tensor(sites, SiteKind.ATTN_OUT, l));
            assertEquals(p + "/mlp/down_proj/MatMul/output_0", tensor(sites, SiteKind.MLP_OUT, l));
            assertEquals(p + "/post_attention_layernorm/SkipSimplifiedLayerNormalization/output_3", tensor(sites, SiteKind.RESID_MID, l));
            assertEquals(p + "/post_attention_layernorm/SkipSimplifiedLayerNormalization/output_0", tensor(sites, SiteKind.MLP_IN, l));
            assertEquals(l == 0 ? p + "/input_layernorm/SimplifiedLayerNormalization/output_0"
                    : p + "/input_layernorm/SkipSimplifiedLayerNormalization/output_0", tensor(sites, SiteKind.ATTN_IN, l));
            assertEquals(next + "/SkipSimplifiedLayerNormalization/output_3", tensor(sites, SiteKind.RESID_POST, l));
        }
        assertEquals("/model/embed_tokens/Gather/output_0", tensor(sites, SiteKind.RESID_PRE, 0));
    }

    private static String tensor(SiteMap sites, SiteKind kind, int layer) {
        List<Site> found = sites.find(kind, layer);
        assertEquals(1, found.size(), kind + "." + layer + ": " + found);
        return found.get(0).value().name();
    }

    /** head_size 32: rotary inside GroupQueryAttention from cos/sin caches of the context length; int8 packs q|k|v into one MatMulNBits. */
    @Test
    void headSize32FusesRotaryAndInt8PacksQkvIntoOneMatMulNBits() {
        Path dir = tmp.resolve("tiny-int8");
        GgufImporter.Result result = GgufImporter.importModel(TINY_LLAMA, dir, WeightFormat.INT8, ImportFormat.GENAI);
        assertEquals(7 * 4 + 1, result.quantisedProjections(), "q, k and v counted as three projections, as the standard import has them");
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        Map<String, Integer> ops = opCounts(model);
        assertFalse(ops.containsKey("RotaryEmbedding"), ops.toString());
        assertEquals(4 * 5 + 1, ops.get("MatMulNBits"));
        for (Node gqa : nodes(model, "GroupQueryAttention")) {
            assertEquals(1, gqa.intAttribute("do_rotary", -1));
            assertEquals("cos_cache", gqa.input(7).name());
            assertEquals("sin_cache", gqa.input(8).name());
            assertTrue(gqa.input(1) == null && gqa.input(2) == null, "packed: key and value inputs empty");
            assertTrue(gqa.input(0).producer().opType().equals("MatMulNBits"));
            assertEquals(256 + 2 * 128, gqa.input(0).producer().intAttribute("N", -1));
        }
        long[] cacheDims = model.graph().find("cos_cache").orElseThrow().initializer().dims();
        assertEquals(result.config().contextLength(), cacheDims[0]);
        assertEquals(16, cacheDims[1]);
    }

    /** A Q4_K_M file's Q6_K v stays 8-bit under keep while q and k go to 4 bits: those layers concatenate three projections. */
    @Test
    void mixedWidthsUnderKeepProjectSeparatelyAndConcatenate() {
        Path dir = tmp.resolve("tiny-q4km");
        GgufImporter.importModel(TestPaths.sharedModel("tiny-llama-quants/tiny-llama-Q4_K_M.gguf"), dir, WeightFormat.KEEP, ImportFormat.GENAI);
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        // the other Concats read an 8-bit matrix's input twice (nibble pairs, see NibblePairs)
        List<Node> concats = nodes(model, "Concat").stream().filter(c -> !c.name().endsWith("/Doubled")).toList();
        assertFalse(concats.isEmpty(), opCounts(model).toString());
        for (Node concat : concats) {
            assertTrue(concat.name().endsWith("/attn/qkv_proj/Concat"), concat.name());
            assertEquals(3, concat.inputCount());
            assertTrue(concat.output(0).uses().stream().anyMatch(u -> u.node().opType().equals("GroupQueryAttention")), concat.name());
        }
    }

    /** qwen2's q/k/v biases become one packed bias after the packed projection; phi3's fused attn_qkv is one projection too. */
    @Test
    void qwen2PacksItsBiasesAndPhi3KeepsItsFusedQkv() {
        for (String arch : List.of(LlamaConfig.QWEN2, LlamaConfig.PHI3, LlamaConfig.GEMMA)) {
            Path gguf = ArchitectureFixtures.write(arch, tmp.resolve(arch + ".gguf"));
            Path dir = tmp.resolve(arch + "-genai");
            GgufImporter.importModel(gguf, dir, WeightFormat.F32, ImportFormat.GENAI);
            Model model = ModelReader.read(dir.resolve("model.onnx"));
            assertEquals(ArchitectureFixtures.LAYERS, nodes(model, "GroupQueryAttention").size(), arch);
            for (Node gqa : nodes(model, "GroupQueryAttention")) {
                Node producer = gqa.input(0).producer();
                assertEquals(arch.equals(LlamaConfig.QWEN2) ? "Add" : "MatMul", producer.opType(), arch);
                assertEquals(1, gqa.intAttribute("do_rotary", -1), arch + ": head size 16");
            }
            if (arch.equals(LlamaConfig.GEMMA)) {
                assertEquals(ArchitectureFixtures.LAYERS, nodes(model, "Gelu").size());
                assertEquals("tanh", nodes(model, "Gelu").get(0).stringAttribute("approximate", ""));
            }
            assertEquals(ArchitectureFixtures.LAYERS, SiteFinder.find(model).layerCount(), arch);
        }
    }

    /** gemma2's soft-capping, post-norms and window are not in the builder layout: one line naming what is, nothing written. */
    @Test
    void gemma2IsRefusedNamingTheArchitecturesGenaiWrites() {
        Path gguf = ArchitectureFixtures.write(LlamaConfig.GEMMA2, tmp.resolve("gemma2.gguf"));
        Path dir = tmp.resolve("gemma2-genai");
        BadModelException e = assertThrows(BadModelException.class,
                () -> GgufImporter.importModel(gguf, dir, WeightFormat.F32, ImportFormat.GENAI));
        assertEquals(gguf + ": cannot be imported with --format genai (expected general.architecture one of llama, qwen2, phi3,"
                + " gemma, found gemma2)", e.getMessage());
        assertFalse(Files.exists(dir));
    }
}
