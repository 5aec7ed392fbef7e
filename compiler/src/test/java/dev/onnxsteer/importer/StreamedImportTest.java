package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Weights streamed into external data tensor by tensor are byte for byte the weights of an in-memory import. */
class StreamedImportTest {
    @TempDir
    Path tmp;

    @Test
    void streamedExternalDataHoldsTheSameTensorsAsAnInlineImport() throws Exception {
        Path gguf = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-Q4_0.gguf");
        for (WeightFormat format : List.of(WeightFormat.KEEP, WeightFormat.F32)) {
            Path inline = tmp.resolve(format.label() + "-inline");
            Path streamed = tmp.resolve(format.label() + "-streamed");
            assertFalse(GgufImporter.importModel(gguf, inline, format).externalData());
            GgufImporter.Result result = GgufImporter.importModel(gguf, OutputTarget.refuseExisting(streamed), new GgufImporter.Options(format, false, 0, false));
            assertTrue(result.externalData());
            assertFalse(Files.exists(inline.resolve("model.onnx.data")));
            assertTrue(Files.size(streamed.resolve("model.onnx.data")) > Files.size(streamed.resolve("model.onnx")));
            Model a = ModelReader.read(inline.resolve("model.onnx"));
            Model b = ModelReader.read(streamed.resolve("model.onnx"));
            assertEquals(a.graph().initializers().size(), b.graph().initializers().size());
            int external = 0;
            for (Value expected : a.graph().initializers()) {
                Value actual = b.graph().find(expected.name()).orElseThrow();
                assertEquals(expected.initializer().type(), actual.initializer().type(), expected.name());
                assertEquals(expected.initializer().bytes().slice(), actual.initializer().bytes().slice(), expected.name());
                external += actual.initializer().isExternal() ? 1 : 0;
            }
            assertTrue(external > 20, format + ": " + external + " external tensors");
        }
    }
}
