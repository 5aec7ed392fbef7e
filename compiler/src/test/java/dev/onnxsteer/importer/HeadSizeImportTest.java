package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUFs whose head size ({@code ARCH.attention.key_length}) is not hidden / heads, as Gemma's, Gemma 2's and Mistral
 * Nemo's: the projections, KV cache, rotary and attention scale are built over the head size, config.json and
 * genai_config.json state it, and the steering sites stay on the hidden-size residual stream. That the imports
 * compute what llama.cpp computes is LlamaCppLogitsTest's part (runtime module).
 */
class HeadSizeImportTest {
    @TempDir
    Path tmp;

    private Path importFixture(String arch, ArchitectureFixtures.Sizes sizes, ImportFormat layout) {
        Path gguf = ArchitectureFixtures.write(arch, tmp.resolve(arch + "-" + sizes.headDim() + ".gguf"), GgmlType.F32, sizes);
        Path dir = tmp.resolve(arch + "-" + sizes.headDim() + "-" + layout);
        GgufImporter.importModel(gguf, OutputTarget.refuseExisting(dir),
                new GgufImporter.Options(WeightFormat.F32, false, GgufImporter.EXTERNAL_DATA_THRESHOLD, false, layout));
        return dir;
    }

    private static Node node(Model model, String name) {
        return model.graph().nodes().stream().filter(n -> n.name().equals(name)).findFirst().orElseThrow(() -> new AssertionError(name));
    }

    private static long[] weightDims(Model model, String matMul) {
        return node(model, matMul).input(1).initializer().dims();
    }

    private static JsonNode json(Path file) throws Exception {
        return new ObjectMapper().readTree(file.toFile());
    }

    /** Every site of every layer is hidden wide, though q (and the o_proj input) is heads * head_dim wide. */
    private static void assertSitesAreHiddenWide(Model model, ArchitectureFixtures.Sizes sizes) {
        SiteMap sites = SiteFinder.find(model);
        assertEquals(sizes.layers(), sites.layerCount());
        assertEquals(sizes.hidden(), sites.hiddenSize());
        assertEquals(7 * sizes.layers(), sites.sites().size(), "seven site kinds a layer");
        for (Site site : sites.sites()) {
            assertEquals(sizes.hidden(), site.hiddenSize(), site.toString());
        }
    }

    /** Gemma 7B's shape, heads wider than hidden / heads: q 512 wide over hidden 256, in the standard layout. */
    @Test
    void gemmaWithWiderHeadsInTheStandardLayout() throws Exception {
        ArchitectureFixtures.Sizes sizes = ArchitectureFixtures.WIDER_HEADS;
        Path dir = importFixture(LlamaConfig.GEMMA, sizes, ImportFormat.ONNX);
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        String p = "/model/layers.0/self_attn";
        assertArrayEquals(new long[] {256, 4 * 128}, weightDims(model, p + "/q_proj/MatMul"));
        assertArrayEquals(new long[] {256, 2 * 128}, weightDims(model, p + "/k_proj/MatMul"));
        assertArrayEquals(new long[] {4 * 128, 256}, weightDims(model, p + "/o_proj/MatMul"));
        Value past = model.graph().inputs().stream().filter(v -> v.name().equals("past_key_values.0.key")).findFirst().orElseThrow();
        assertEquals(Long.valueOf(128), ((ValueType.Tensor) past.type()).shape().get(3).value());
        float scale = node(model, p + "/Mul_4").input(1).initializer().toFloats()[0];
        assertEquals((float) (1 / Math.sqrt(128)), scale, "llama.cpp's gemma scales q by 1/sqrt(head size), not 1/sqrt(hidden / heads)");
        assertSitesAreHiddenWide(model, sizes);

        JsonNode config = json(dir.resolve("config.json"));
        assertEquals(256, config.get("hidden_size").asInt());
        assertEquals(4, config.get("num_attention_heads").asInt());
        assertEquals(128, config.get("head_dim").asInt());
    }

    /** The same model in the onnxruntime-genai layout: packed q|k|v, GroupQueryAttention's scale and head_size. */
    @Test
    void gemmaWithWiderHeadsInTheGenaiLayout() throws Exception {
        ArchitectureFixtures.Sizes sizes = ArchitectureFixtures.WIDER_HEADS;
        Path dir = importFixture(LlamaConfig.GEMMA, sizes, ImportFormat.GENAI);
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        String p = "/model/layers.0/attn";
        assertArrayEquals(new long[] {256, 4 * 128 + 2 * 2 * 128}, weightDims(model, p + "/qkv_proj/MatMul"));
        assertArrayEquals(new long[] {4 * 128, 256}, weightDims(model, p + "/o_proj/MatMul"));
        Node gqa = node(model, p + "/GroupQueryAttention");
        assertEquals((float) (1 / Math.sqrt(128)), gqa.floatAttribute("scale", 0f));
        assertEquals(1, gqa.intAttribute("do_rotary", -1), "head size 128 is a multiple of 16: rotary inside GroupQueryAttention");
        assertEquals(64L, gqa.input(7).initializer().dims()[1], "cos cache over head_dim / 2");
        assertSitesAreHiddenWide(model, sizes);

        JsonNode decoder = json(dir.resolve(GenaiConfig.FILE)).at("/model/decoder");
        assertEquals(128, decoder.get("head_size").asInt());
        assertEquals(256, decoder.get("hidden_size").asInt());
        assertEquals(128, json(dir.resolve("config.json")).get("head_dim").asInt());
    }

    /** Gemma 2 2B's shape, heads narrower than hidden / heads: config.json carries query_pre_attn_scalar = head size. */
    @Test
    void gemma2WithNarrowerHeads() throws Exception {
        ArchitectureFixtures.Sizes sizes = ArchitectureFixtures.NARROWER_HEADS;
        Path dir = importFixture(LlamaConfig.GEMMA2, sizes, ImportFormat.ONNX);
        Model model = ModelReader.read(dir.resolve("model.onnx"));
        String p = "/model/layers.1/self_attn";
        assertArrayEquals(new long[] {512, 4 * 64}, weightDims(model, p + "/q_proj/MatMul"));
        assertArrayEquals(new long[] {4 * 64, 512}, weightDims(model, p + "/o_proj/MatMul"));
        assertEquals((float) (1 / Math.sqrt(64)), node(model, p + "/Mul_4").input(1).initializer().toFloats()[0]);
        assertSitesAreHiddenWide(model, sizes);
        JsonNode config = json(dir.resolve("config.json"));
        assertEquals(64, config.get("head_dim").asInt());
        assertEquals(64, config.get("query_pre_attn_scalar").asInt());
    }

    /**
     * llama.cpp tells Gemma 2 27B by its 46 layers and scales its queries by 1/sqrt(embedding_length / head_count)
     * (144 beside head size 128); 26 or 42 layers (2B, 9B) by 1/sqrt(head size).
     */
    @Test
    void gemma2ScalesQueriesAsLlamaCppDoesForEachSize() {
        for (int layers : List.of(26, 42, 46)) {
            ArchitectureFixtures.Sizes sizes = new ArchitectureFixtures.Sizes(layers, 64, 4, 2, 32, 32);
            Path gguf = ArchitectureFixtures.write(LlamaConfig.GEMMA2, tmp.resolve("gemma2-" + layers + ".gguf"), GgmlType.F32, sizes);
            try (GgufFile file = GgufFile.open(gguf)) {
                LlamaConfig c = LlamaConfig.from(file);
                assertEquals(32, c.headDim());
                int scalar = layers == 46 ? 64 / 4 : 32;
                assertEquals(scalar, c.queryPreAttnScalar(), layers + " layers");
                assertEquals((float) (1 / Math.sqrt(scalar)), c.attentionScale(), layers + " layers");
                assertEquals(scalar, GgufImporter.configJson(c, Gemma2Settings.from(file.metadata())).get("query_pre_attn_scalar").asInt());
            }
        }
    }
}
