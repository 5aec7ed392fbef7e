package dev.onnxsteer.generate;

import dev.onnxsteer.TestModels;
import dev.onnxsteer.proto.GraphProto;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.proto.OperatorSetIdProto;
import dev.onnxsteer.proto.TensorProto;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A model directory with stories260K's tokenizer and a graph that "generates" a fixed script of
 * token ids greedily after a prompt of a given length: the logits at the prompt's last position
 * and every one after it are one-hot (10.0) at the next id of the script, then at EOS. It lets a test put exact ids (byte-fallback runs, malformed UTF-8) through generation,
 * the CLI and the server. Layout: no KV cache, int64 {@code input_ids} and {@code position_ids}
 * {@code [batch, seq]} to {@code logits [batch, seq, 512]}.
 */
public final class ScriptedModel {
    private static final int FLOAT = 1;
    private static final int INT64 = 7;
    private static final int VOCAB = 512;
    private static final long EOS = 2;

    private ScriptedModel() {}

    /** Writes the model directory {@code dir}; a prompt of {@code promptTokens} ids (BOS included) then produces {@code script}. */
    public static Path write(Path dir, int promptTokens, long... script) {
        Path stories = TestModels.stories260K();
        int positions = promptTokens + script.length;
        TensorProto.Builder table = TensorProto.newBuilder().setName("script").setDataType(FLOAT)
                .addDims(positions).addDims(VOCAB);
        for (int p = 0; p < positions; p++) {
            int next = p - (promptTokens - 1);
            long id = next >= 0 && next < script.length ? script[next] : EOS;
            for (int v = 0; v < VOCAB; v++) {
                table.addFloatData(v == id ? 10f : 0f);
            }
        }
        GraphProto.Builder graph = GraphProto.newBuilder().setName("scripted")
                .addInput(TinyKvModels.value("input_ids", INT64, "batch", "seq"))
                .addInput(TinyKvModels.value("position_ids", INT64, "batch", "seq"))
                .addInitializer(table)
                .addNode(TinyKvModels.node("Gather", List.of("script", "position_ids"), "logits"))
                .addOutput(TinyKvModels.value("logits", FLOAT, "batch", "seq", (long) VOCAB));
        byte[] model = ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-steer tests")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(graph).build().toByteArray();
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("model.onnx"), model);
            Files.copy(stories.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
            Files.copy(stories.resolve("config.json"), dir.resolve("config.json"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }
}
