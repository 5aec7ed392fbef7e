package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import com.google.protobuf.TextFormat;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.proto.triton.DataType;
import dev.onnxsteer.proto.triton.ModelConfig.Builder;
import dev.onnxsteer.proto.triton.ModelInput;
import dev.onnxsteer.proto.triton.ModelOutput;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code export-triton} output: the config parses against Triton's schema, and the model steers per row. */
class TritonExportTest {
    @TempDir
    Path tmp;

    @Test
    void writesARepositoryWhoseConfigParsesAndWhoseModelSteersPerRow() throws Exception {
        SteeringVectors happy = VectorFiles.read(Stories.vectors().resolve("happy.gguf"));
        Path compiled = tmp.resolve("stories-input");
        Compilation.compileTo(Stories.files(), List.of(new Steering(SiteKind.RESID_POST, 2, happy.layer(2), 1f)),
                Mode.INPUT, compiled);
        Path repo = tmp.resolve("repo");
        TritonExport.Result result = TritonExport.export(ModelFiles.locate(compiled, null), repo, "stories", 8);

        Path dir = repo.resolve("stories");
        assertEquals(dir, result.directory());
        assertTrue(Files.isRegularFile(dir.resolve("1/model.onnx")));
        assertTrue(Files.isRegularFile(dir.resolve("1/model.onnx.data")), "weights as external data");
        assertTrue(Files.isRegularFile(dir.resolve("1/tokenizer.json")));
        assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve("1/model.onnx.data"))), "readable by a Triton running as another user");
        Builder parsed = dev.onnxsteer.proto.triton.ModelConfig.newBuilder();
        TextFormat.getParser().merge(Files.readString(dir.resolve("config.pbtxt"), StandardCharsets.UTF_8), parsed);
        dev.onnxsteer.proto.triton.ModelConfig config = parsed.build();
        assertEquals(result.config().proto(), config);
        assertEquals("stories", config.getName());
        assertEquals("onnxruntime", config.getBackend());
        assertEquals(8, config.getMaxBatchSize());
        assertTrue(config.hasDynamicBatching(), "dynamic batching on");
        Map<String, ModelInput> inputs = new java.util.HashMap<>();
        config.getInputList().forEach(i -> inputs.put(i.getName(), i));
        assertEquals(DataType.TYPE_INT64, inputs.get("input_ids").getDataType());
        assertEquals(List.of(-1L), inputs.get("input_ids").getDimsList());
        ModelInput vector = inputs.get("steer.resid_post.2.vector");
        assertEquals(DataType.TYPE_FP32, vector.getDataType());
        assertEquals(List.of(64L), vector.getDimsList());
        ModelInput coefficient = inputs.get("steer.resid_post.2.coefficient");
        assertEquals(List.of(1L), coefficient.getDimsList());
        assertEquals(List.of("steer.resid_post.2.vector", "steer.resid_post.2.coefficient"), result.steeringInputs());
        ModelOutput logits = config.getOutputList().stream().filter(o -> o.getName().equals("logits")).findFirst().orElseThrow();
        assertEquals(List.of(-1L, 512L), logits.getDimsList());
        assertTrue(inputs.keySet().stream().anyMatch(n -> n.startsWith("past")), inputs.keySet().toString());
        assertThrows(TextFormat.ParseException.class, () -> TextFormat.getParser().merge("max_batch_sise: 3",
                dev.onnxsteer.proto.triton.ModelConfig.newBuilder()), "the schema refuses unknown fields");

        // the exported model takes a vector and a coefficient per row: row 0 unsteered, row 1 steered x2
        String prompt = "Once upon a time";
        GenerationConfig greedy = GenerationConfig.greedy(24);
        ModelFiles exported = ModelFiles.locate(dir.resolve("1"), null);
        ModelConfig modelConfig = ModelConfig.load(exported.directory());
        float[] v = happy.layer(2);
        float[] vectors = new float[128];
        System.arraycopy(v, 0, vectors, 0, 64);
        System.arraycopy(v, 0, vectors, 64, 64);
        try (ModelSession session = SessionFactory.open(exported.onnx(), SessionConfig.cpu());
                Tokenizer tokenizer = Tokenizer.load(exported.tokenizer(), modelConfig);
                OnnxTensor vectorTensor = OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(vectors), new long[] {2, 64});
                OnnxTensor coefficientTensor = OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(new float[] {0f, 2f}),
                        new long[] {2, 1})) {
            assertTrue(session.ort().getInputNames().contains("steer.resid_post.2.coefficient"));
            List<Generation> rows = Generator.create(session, tokenizer, modelConfig).generate(List.of(prompt, prompt),
                    greedy, ExtraInputs.constant(Map.of("steer.resid_post.2.vector", vectorTensor,
                            "steer.resid_post.2.coefficient", coefficientTensor)), TokenListener.NONE);
            assertEquals(Reference.generate(prompt, greedy, List.of()).text(), rows.get(0).text());
            assertEquals(Reference.generate(prompt, greedy, List.of(new SteeringTerm("happy", 2))).text(), rows.get(1).text());
        }

        IllegalArgumentException again = assertThrows(IllegalArgumentException.class,
                () -> TritonExport.export(ModelFiles.locate(compiled, null), repo, "stories", 8));
        assertTrue(again.getMessage().contains("exists and is not empty"), again.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> TritonExport.export(ModelFiles.locate(compiled, null), repo, "../escape", 8));
    }

    @Test
    void aVectorBankStaysInTheModelWhileIndexAndScaleArePerRow() throws Exception {
        SteeringVectors happy = VectorFiles.read(Stories.vectors().resolve("happy.gguf"));
        SteeringVectors calm = VectorFiles.read(Stories.vectors().resolve("calm.gguf"));
        Path compiled = tmp.resolve("stories-bank");
        Compilation.compileTo(Stories.files(), List.of(new Steering(SiteKind.RESID_POST, 2, happy.layer(2), 1f),
                new Steering(SiteKind.RESID_POST, 2, calm.layer(2), 1f)), Mode.INPUT, SteerOptions.ADD.withBank(true),
                compiled);
        TritonExport.Result result = TritonExport.export(ModelFiles.locate(compiled, null), tmp.resolve("repo"), "bank", 4);

        Map<String, ModelInput> inputs = new java.util.HashMap<>();
        result.config().proto().getInputList().forEach(i -> inputs.put(i.getName(), i));
        assertEquals(List.of("steer_index", "steer_scale"), result.steeringInputs());
        assertEquals(List.of("steer_bank"), result.bakedInputs(), "[K, hidden] is not batch-first");
        assertTrue(!inputs.containsKey("steer_bank"), inputs.keySet().toString());
        assertEquals(DataType.TYPE_INT64, inputs.get("steer_index").getDataType());
        assertEquals(List.of(1L), inputs.get("steer_index").getDimsList());
        assertEquals(List.of(1L), inputs.get("steer_scale").getDimsList());

        // row 0 picks happy x1, row 1 is unsteered: the same tokens as the server's reference
        String prompt = "Once upon a time";
        GenerationConfig greedy = GenerationConfig.greedy(24);
        ModelFiles exported = ModelFiles.locate(result.directory().resolve("1"), null);
        ModelConfig modelConfig = ModelConfig.load(exported.directory());
        try (ModelSession session = SessionFactory.open(exported.onnx(), SessionConfig.cpu());
                Tokenizer tokenizer = Tokenizer.load(exported.tokenizer(), modelConfig);
                OnnxTensor index = OnnxTensor.createTensor(Ort.env(), java.nio.LongBuffer.wrap(new long[] {0, 1}),
                        new long[] {2});
                OnnxTensor scale = OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(new float[] {1f, 0f}),
                        new long[] {2})) {
            assertTrue(session.inputDefaults().isEmpty(), "an exported model has no defaults left to feed");
            List<Generation> rows = Generator.create(session, tokenizer, modelConfig).generate(List.of(prompt, prompt),
                    greedy, ExtraInputs.constant(Map.of("steer_index", index, "steer_scale", scale)), TokenListener.NONE);
            assertEquals(Reference.generate(prompt, greedy, List.of(new SteeringTerm("happy", 1))).text(), rows.get(0).text());
            assertEquals(Reference.generate(prompt, greedy, List.of()).text(), rows.get(1).text());
        }
    }
}
