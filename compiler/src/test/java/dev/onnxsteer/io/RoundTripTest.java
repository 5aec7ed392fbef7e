package dev.onnxsteer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reading a model and writing it back changes nothing: the written file holds the same ONNX protobuf
 * as the original, field by field through every subgraph (every node, attribute, initializer byte,
 * value type and metadata entry; see {@link ProtoEquality}), not merely the same output for one run.
 * The only freedom the writer has is to state a default value the exporter left out. External data
 * is checked tensor by tensor, then inlined again and compared with the original file.
 */
class RoundTripTest {
    @TempDir
    Path temp;

    @Test
    void fusedGpt2IsBitIdenticalAfterRoundTrip() throws IOException {
        assertRoundTrip(TestModels.fusedGpt2());
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "llama-tiny-nopast", "llama-merged", "gpt2-tiny", "gpt2-tiny-nopast"})
    void everyFixtureIsBitIdenticalAfterRoundTrip(String fixture) throws IOException {
        assertRoundTrip(TestPaths.testdata().resolve(fixture).resolve("model.onnx"));
    }

    @Test
    void importedStories260KIsBitIdenticalAfterRoundTrip() throws IOException {
        assertRoundTrip(TestModels.stories260K().resolve("model.onnx"));
    }

    @Test
    void miniLmIsBitIdenticalAfterRoundTrip() throws IOException {
        assertRoundTrip(TestModels.miniLm().resolve("model.onnx"));
    }

    @Test
    void externalisedWriteIsBitIdenticalAndReadsBack() throws IOException {
        Path original = TestModels.miniLm().resolve("model.onnx");
        Model model = ModelReader.read(original);
        Path external = temp.resolve("ext/model.onnx");
        ModelWriter.write(model, external, true);
        Model reread = ModelReader.read(external);
        long externalCount = reread.graph().initializers().stream().filter(v -> v.initializer().isExternal()).count();
        assertTrue(externalCount > 10, "large initializers moved to external data: " + externalCount);
        assertEquals(List.of(), ProtoEquality.differencesBesidesStorage(original, external), "the externalised model");
        assertSameInitializers(ModelReader.read(original), reread);
        // written again from the externalised copy (its data files linked), nothing changes either
        Path again = temp.resolve("linked/model.onnx");
        ModelWriter.write(reread, again);
        assertEquals(List.of(), ProtoEquality.differencesBesidesStorage(original, again), "the rewritten externalised model");
        assertSameInitializers(ModelReader.read(original), ModelReader.read(again));
    }

    private void assertRoundTrip(Path original) throws IOException {
        Model model = ModelReader.read(original);
        Path copy = temp.resolve("copy/model.onnx");
        ModelWriter.write(model, copy);
        assertEquals(List.of(), ProtoEquality.differences(original, copy), "the rewritten " + original);
    }

    /** Same initializer names, types, shapes and data bytes, wherever each is stored. */
    private static void assertSameInitializers(Model expected, Model actual) {
        Map<String, Value> actualValues = actual.graph().localValues();
        for (Value value : expected.graph().initializers()) {
            Value other = actualValues.get(value.name());
            assertTrue(other != null && other.isInitializer(), "initializer " + value + " is missing");
            Tensor a = value.initializer();
            Tensor b = other.initializer();
            assertEquals(a.type(), b.type(), value.name());
            assertArrayEquals(a.dims(), b.dims(), value.name());
            assertEquals(a.bytes(), b.bytes(), "data of " + value.name());
        }
        assertEquals(expected.graph().initializers().size(), actual.graph().initializers().size());
    }

    static void assertOutputsEqual(Path expectedModel, Path actualModel, int vocab) {
        OrtRunner.Sizes sizes = OrtRunner.Sizes.small(vocab);
        Map<String, byte[]> expected = OrtRunner.run(expectedModel, sizes, 7, true);
        Map<String, byte[]> actual = OrtRunner.run(actualModel, sizes, 7, true);
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((name, bytes) -> assertArrayEquals(bytes, actual.get(name), "output " + name + " differs"));
    }
}
