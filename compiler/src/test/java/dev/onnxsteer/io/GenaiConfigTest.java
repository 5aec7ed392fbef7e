package dev.onnxsteer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Pass;
import dev.onnxsteer.passes.PassResult;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A compile of an onnxruntime-genai folder keeps its genai_config.json true to the graph written beside it
 * (llama-tiny-genai): the decoder file name, names the graph no longer has, and a note for every input
 * onnxruntime-genai cannot feed or leaves at its default.
 */
class GenaiConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    private static List<Steering> steering() {
        float[] v = new float[Fixtures.LLAMA_HIDDEN];
        v[3] = 1f;
        return List.of(new Steering(SiteKind.RESID_POST, 1, v, 2f));
    }

    private Compilation.Result compile(Path source, Mode mode, List<Pass> extra, Path out) {
        return Compilation.compileTo(ModelFiles.locate(source, null), sites -> steering(), mode, SteerOptions.ADD,
                OutputTarget.refuseExisting(out), LoadCheck.NONE, extra);
    }

    /** Input mode adds defaulted steer.* inputs: the config is copied byte for byte, and the note names them. */
    @Test
    void inputModeKeepsTheConfigAndSaysWhichInputsRunAtTheirDefaults() throws IOException {
        Path source = Fixtures.dir(Fixtures.LLAMA_GENAI);
        Path out = temp.resolve("input");
        Compilation.Result result = compile(source, Mode.INPUT, List.of(), out);
        assertArrayEquals(Files.readAllBytes(source.resolve(GenaiConfig.FILE)), Files.readAllBytes(out.resolve(GenaiConfig.FILE)));
        assertEquals(List.of("onnxruntime-genai runs steer.resid_post.1.vector, steer.resid_post.1.coefficient at "
                + "their defaults (genai_config.json cannot name them)"), result.notes());
        assertEquals(List.of(), compile(source, Mode.ADD, List.of(), temp.resolve("add")).notes(), "add mode adds no input");
    }

    /** A required input the config cannot name (a conditional state, a cut site) is reported by name. */
    @Test
    void aRequiredInputOnnxRuntimeGenaiCannotFeedIsNamed() {
        Pass state = model -> {
            model.graph().addInput(CompiledModelAbi.CONDITION_PAST,
                    ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch_size"), Dim.param("past")));
            return PassResult.changed("added a state input");
        };
        Compilation.Result result = compile(Fixtures.dir(Fixtures.LLAMA_GENAI), Mode.ADD, List.of(state), temp.resolve("state"));
        assertEquals(List.of("onnxruntime-genai cannot feed steer_condition_past: required input that genai_config.json "
                + "has no key for (its decoder section names only the inputs onnxruntime-genai knows); run this model "
                + "with onnx-steer generate or serve, or ONNX Runtime feeding it yourself"), result.notes());
    }

    /**
     * A source whose decoder is not model.onnx, and whose config names an input its graph lacks: the output's
     * config names model.onnx and drops the stale key, and nothing else in it changes.
     */
    @Test
    void theDecoderFileNameAndStaleNamesAreUpdated() throws IOException {
        Path fixture = Fixtures.dir(Fixtures.LLAMA_GENAI);
        Path source = Files.createDirectories(temp.resolve("builder"));
        Files.copy(fixture.resolve(ModelFiles.MODEL_FILE), source.resolve("decoder-fp32.onnx"));
        Files.copy(fixture.resolve(ModelFiles.TOKENIZER_FILE), source.resolve(ModelFiles.TOKENIZER_FILE));
        ObjectNode config = (ObjectNode) JSON.readTree(fixture.resolve(GenaiConfig.FILE).toFile());
        ObjectNode decoder = (ObjectNode) config.path("model").path("decoder");
        decoder.put("filename", "decoder-fp32.onnx");
        ((ObjectNode) decoder.path("inputs")).put("position_ids", "position_ids");
        Files.writeString(source.resolve(GenaiConfig.FILE), JSON.writeValueAsString(config));

        Path out = temp.resolve("out");
        Compilation.Result result = compile(source, Mode.ADD, List.of(), out);
        assertEquals(List.of("genai_config.json: decoder filename \"decoder-fp32.onnx\" -> \"model.onnx\"",
                "genai_config.json: dropped input position_ids = \"position_ids\": the compiled model has no such input"),
                result.notes());
        JsonNode written = JSON.readTree(out.resolve(GenaiConfig.FILE).toFile());
        assertEquals(JSON.readTree(fixture.resolve(GenaiConfig.FILE).toFile()), written,
                "the fixture's own config, which names model.onnx and no position_ids");
        assertEquals(List.of("decoder-fp32.onnx", GenaiConfig.FILE, ModelFiles.TOKENIZER_FILE).stream().sorted().toList(),
                Files.list(source).map(p -> p.getFileName().toString()).sorted().toList(), "the source is untouched");
    }
}
