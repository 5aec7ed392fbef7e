package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.proto.GraphProto;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.proto.NodeProto;
import dev.onnxsteer.proto.OperatorSetIdProto;
import dev.onnxsteer.proto.StringStringEntryProto;
import dev.onnxsteer.proto.TensorProto;
import dev.onnxsteer.proto.TensorShapeProto;
import dev.onnxsteer.proto.TypeProto;
import dev.onnxsteer.proto.ValueInfoProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {
    @TempDir
    Path temp;


    // ---------------------------------------------------------------------------------------------
    // Output on real models

    @Test
    void tableOfTheFusedGpt2ListsItsSites() {
        CliRun run = run("inspect", TestModels.fusedGpt2().toString());
        assertEquals(Main.OK, run.code(), run.err());
        assertTrue(run.out().contains("fused pre-norm decoder (onnxruntime SkipLayerNormalization)"), run.out());
        assertTrue(run.out().contains("5, hidden size 32"), run.out());
        assertTrue(run.out().contains("com.microsoft.SkipLayerNormalization 10"), run.out());
        assertTrue(run.out().contains("input_ids"), run.out());
        assertTrue(run.out().contains("[2, batch_size, 4, past_seq_len, 8]"), run.out());
        assertLine(run.out(), "resid_pre.0", "EmbedLayerNormalization_0_embedding_sum");
        assertLine(run.out(), "attn_out.2", "GptAttention_2_matmul_output");
        assertLine(run.out(), "resid_mid.3", "/transformer/h.3/Add_output_0");
        assertLine(run.out(), "mlp_out.4", "FullyConnect_MatMul_9_output");
        assertLine(run.out(), "resid_post.3", "/transformer/h.3/Add_1_output_0");
        assertTrue(run.out().contains("resid_post.4 is not a tensor"), "the missing site is explained: " + run.out());
        assertEquals("", run.err());
    }

    @Test
    void jsonOfMiniLmHasEveryField() throws Exception {
        CliRun run = run("inspect", TestModels.miniLm().toString(), "--json");
        assertEquals(Main.OK, run.code(), run.err());
        JsonNode json = new ObjectMapper().readTree(run.out());
        for (String field : List.of("file", "irVersion", "opsets", "producer", "inputs", "outputs", "initializers",
                "nodes", "ops", "layout", "layers", "hiddenSize", "sites", "notes", "steering")) {
            assertTrue(json.has(field), "field " + field + " in " + run.out());
        }
        assertTrue(json.get("file").asText().endsWith("model.onnx"));
        assertEquals(11, json.get("opsets").get("ai.onnx").asInt());
        assertEquals("post-norm encoder (bert)", json.get("layout").asText());
        assertEquals(6, json.get("layers").asInt());
        assertEquals(384, json.get("hiddenSize").asInt());
        assertEquals("input_ids", json.get("inputs").get(0).get("name").asText());
        assertEquals("int64", json.get("inputs").get(0).get("dtype").asText());
        assertEquals("batch_size", json.get("inputs").get(0).get("shape").get(0).asText());
        assertEquals(384, json.get("outputs").get(0).get("shape").get(2).asInt());
        assertTrue(json.get("initializers").get("inlineBytes").asLong() > 80_000_000);
        assertEquals(0, json.get("initializers").get("externalBytes").asLong());
        assertEquals(6, json.get("ops").get("Softmax").asInt());
        assertEquals(30, json.get("sites").size());
        JsonNode post5 = json.get("sites").get(29);
        assertEquals("resid_post.5", post5.get("name").asText());
        assertEquals("last_hidden_state", post5.get("tensor").asText());
        assertFalse(post5.get("biasFoldable").asBoolean());
        JsonNode mlp2 = json.get("sites").get(13);
        assertEquals("mlp_out.2", mlp2.get("name").asText());
        assertEquals("/encoder/layer.2/output/dense/Add_output_0", mlp2.get("tensor").asText());
        assertTrue(mlp2.get("biasFoldable").asBoolean());
        assertEquals("encoder.layer.2.output.dense.bias", mlp2.get("bias").asText());
        assertEquals("[\"blocks.2.hook_mlp_out\"]", mlp2.get("aliases").toString());
        assertEquals("[\"blocks.5.hook_resid_post\",\"encoder.layer.5\"]", json.get("sites").get(29).get("aliases").toString());
        assertEquals(1, json.get("notes").size(), "the post-norm note: " + json.get("notes"));
    }

    @Test
    void steeringMetadataIsShown() throws Exception {
        ModelProto model = tinyModel(null).toBuilder()
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("onnx_steer.op").setValue("add"))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("other").setValue("x"))
                .build();
        Path file = write("meta/model.onnx", model.toByteArray());
        CliRun table = run("inspect", file.toString());
        assertEquals(Main.OK, table.code(), table.err());
        assertTrue(table.out().contains("onnx_steer.op  add"), table.out());
        assertTrue(table.out().contains("unrecognised"), table.out());
        JsonNode json = new ObjectMapper().readTree(run("inspect", file.toString(), "--json").out());
        assertEquals("add", json.get("steering").get("onnx_steer.op").asText());
        assertFalse(json.get("steering").has("other"));
    }

    // ---------------------------------------------------------------------------------------------
    // Bad input: exit 3, one line naming the file, no stack trace

    @Test
    void missingPath() {
        assertBadInput(temp.resolve("nowhere.onnx"), "no such file");
    }

    @Test
    void directoryWithoutModel() throws Exception {
        Path dir = Files.createDirectories(temp.resolve("empty-dir"));
        assertBadInput(dir, "expected a model directory");
    }

    @Test
    void emptyFile() throws Exception {
        assertBadInput(write("empty.onnx", new byte[0]), "empty file");
    }

    @Test
    void truncatedModel() throws Exception {
        byte[] whole = Files.readAllBytes(TestModels.fusedGpt2());
        assertBadInput(write("truncated.onnx", Arrays.copyOf(whole, whole.length / 2)), "not an ONNX model");
    }

    @Test
    void randomBytes() throws Exception {
        byte[] noise = new byte[4096];
        new Random(42).nextBytes(noise);
        assertBadInput(write("noise.onnx", noise), "");
    }

    @Test
    void protobufThatIsNotAModel() throws Exception {
        TensorProto tensor = TensorProto.newBuilder().setName("t").setDataType(1).addDims(2)
                .addFloatData(1).addFloatData(2).build();
        assertBadInput(write("tensor.onnx", tensor.toByteArray()), "");
    }

    @Test
    void unsupportedIrVersion() throws Exception {
        byte[] bytes = tinyModel(null).toBuilder().setIrVersion(99).build().toByteArray();
        assertBadInput(write("ir99.onnx", bytes), "unsupported IR version (expected IR version 3 to 12, found 99)");
    }

    @Test
    void missingExternalData() throws Exception {
        Path model = write("missing/model.onnx", tinyModel("weights.bin").toByteArray());
        assertBadInput(model, "missing");
    }

    @Test
    void externalDataWithDotDotIsRefused() throws Exception {
        secret();
        Path model = write("dotdot/model.onnx", tinyModel("../secret.bin").toByteArray());
        assertBadInput(model, "..");
    }

    @Test
    void externalDataWithAbsolutePathIsRefused() throws Exception {
        Path secret = secret();
        Path model = write("absolute/model.onnx", tinyModel(secret.toAbsolutePath().toString()).toByteArray());
        assertBadInput(model, "absolute");
    }

    @Test
    void externalDataThroughSymlinkOutsideIsRefused() throws Exception {
        Path secret = secret();
        Path model = write("symlink/model.onnx", tinyModel("weights.bin").toByteArray());
        Files.createSymbolicLink(model.resolveSibling("weights.bin"), secret.toAbsolutePath());
        assertBadInput(model, "outside the model directory");
    }

    @Test
    void externalDataInsideTheDirectoryIsFine() throws Exception {
        Path model = write("inside/model.onnx", tinyModel("weights.bin").toByteArray());
        Files.write(model.resolveSibling("weights.bin"), floats(1, 2, 3, 4));
        CliRun run = run("inspect", model.toString(), "--json");
        assertEquals(Main.OK, run.code(), run.err());
        JsonNode weights = new ObjectMapper().readTree(run.out()).get("initializers");
        assertEquals(16, weights.get("externalBytes").asLong());
        assertEquals(1, weights.get("externalFiles").asInt());
    }

    private void assertBadInput(Path file, String expected) {
        for (String[] args : List.of(new String[] {"inspect", file.toString()}, new String[] {"inspect", file.toString(), "--json"})) {
            CliRun run = run(args);
            assertEquals(Main.BAD_INPUT, run.code(), "exit code for " + file + ": " + run.err());
            assertEquals("", run.out(), "nothing on stdout");
            List<String> lines = run.err().lines().toList();
            assertEquals(1, lines.size(), "one line on stderr: " + run.err());
            assertTrue(lines.get(0).startsWith("error: "), run.err());
            assertTrue(lines.get(0).contains(file.getFileName().toString()), "names the file: " + run.err());
            assertTrue(lines.get(0).contains(expected), "says '" + expected + "': " + run.err());
            assertFalse(run.err().contains("\tat "), "no stack trace: " + run.err());
        }
    }

    private Path write(String relative, byte[] bytes) throws Exception {
        Path file = temp.resolve(relative);
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
        return file;
    }

    private Path secret() throws Exception {
        Path secret = temp.resolve("secret.bin");
        if (!Files.exists(secret)) {
            Files.write(secret, floats(9, 9, 9, 9));
        }
        return secret;
    }

    private static byte[] floats(float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buffer.putFloat(v);
        }
        return buffer.array();
    }

    /** {@code Y = X + W} with W float[4], inline, or external at {@code location} when not null. */
    private static ModelProto tinyModel(String location) {
        TensorProto.Builder w = TensorProto.newBuilder().setName("W").setDataType(1).addDims(4);
        if (location == null) {
            w.addAllFloatData(List.of(1f, 2f, 3f, 4f));
        } else {
            w.setDataLocation(TensorProto.DataLocation.EXTERNAL);
            w.addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(location));
            w.addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue("0"));
            w.addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue("16"));
        }
        GraphProto graph = GraphProto.newBuilder()
                .setName("tiny")
                .addInput(info("X"))
                .addInitializer(w)
                .addNode(NodeProto.newBuilder().setOpType("Add").setName("add").addInput("X").addInput("W").addOutput("Y"))
                .addOutput(info("Y"))
                .build();
        return ModelProto.newBuilder()
                .setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setProducerName("test")
                .setGraph(graph)
                .build();
    }

    private static ValueInfoProto info(String name) {
        TensorShapeProto shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(4)).build();
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(1).setShape(shape)))
                .build();
    }

    private static void assertLine(String out, String site, String tensor) {
        List<String> lines = new ArrayList<>(out.lines().filter(l -> l.startsWith(site + " ")).toList());
        assertEquals(1, lines.size(), site + " in " + out);
        assertTrue(lines.get(0).contains(tensor), lines.get(0));
    }
}
