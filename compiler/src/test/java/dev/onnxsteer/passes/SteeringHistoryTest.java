package dev.onnxsteer.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.SiteKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The steering record a compiled model carries ({@value CompiledModelAbi#OPERATIONS}) is history: a
 * record that cannot be read is refused with the key and the file named, never treated as empty and
 * overwritten by the next compile.
 */
class SteeringHistoryTest {
    @TempDir
    Path temp;

    /** A copy of llama-tiny whose metadata holds {@code history} as its steering record. */
    private ModelFiles withHistory(String history) throws IOException {
        Path source = TestPaths.testdata().resolve("llama-tiny");
        Model model = ModelReader.read(source.resolve(ModelFiles.MODEL_FILE));
        model.metadata().put(CompiledModelAbi.OPERATIONS, history);
        Path dir = Files.createDirectories(temp.resolve("broken"));
        ModelWriter.write(model, dir.resolve(ModelFiles.MODEL_FILE));
        Files.copy(source.resolve(ModelFiles.TOKENIZER_FILE), dir.resolve(ModelFiles.TOKENIZER_FILE));
        return ModelFiles.locate(dir, null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"[{\"op\": \"add\", \"site\": \"resid_post.1\"", "{\"op\": \"add\"}", "[1, 2]",
            "[{\"op\": \"add\", \"mode\": \"add\"}]"})
    void aMalformedRecordIsRefusedNamingTheKeyAndTheFile(String history) throws IOException {
        ModelFiles broken = withHistory(history);
        float[] v = new float[32];
        Arrays.fill(v, 1f);
        Path out = temp.resolve("out");
        BadModelException e = assertThrows(BadModelException.class, () -> Compilation.compileTo(broken,
                List.of(new Steering(SiteKind.RESID_POST, 1, v, 2f)), Mode.ADD, out));
        assertTrue(e.getMessage().startsWith("metadata onnx_steer.operations of " + broken.onnx() + " "), e.getMessage());
        assertTrue(e.getMessage().contains("will not overwrite"), e.getMessage());
        assertFalse(Files.exists(out), "nothing is written");
        assertEquals(history, ModelReader.read(broken.onnx()).metadata().get(CompiledModelAbi.OPERATIONS),
                "the input keeps its record");

        BadModelException read = assertThrows(BadModelException.class,
                () -> Provenance.operations(ModelReader.read(broken.onnx())));
        assertTrue(read.getMessage().startsWith("metadata onnx_steer.operations of the model in " + broken.directory()),
                read.getMessage());
        BadModelException named = assertThrows(BadModelException.class, () -> Provenance.operations(history, "x.onnx"));
        assertTrue(named.getMessage().startsWith("metadata onnx_steer.operations of x.onnx "), named.getMessage());
    }
}
