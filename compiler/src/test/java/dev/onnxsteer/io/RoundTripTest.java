package dev.onnxsteer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.ir.Model;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RoundTripTest {
    @TempDir
    Path temp;

    @Test
    void fusedGpt2IsBitIdenticalAfterRoundTrip() {
        assertRoundTrip(TestModels.fusedGpt2(), 1000);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "llama-tiny-nopast", "llama-merged", "gpt2-tiny", "gpt2-tiny-nopast"})
    void everyFixtureIsBitIdenticalAfterRoundTrip(String fixture) {
        assertRoundTrip(TestPaths.testdata().resolve(fixture).resolve("model.onnx"), 256);
    }

    @Test
    void importedStories260KIsBitIdenticalAfterRoundTrip() {
        assertRoundTrip(TestModels.stories260K().resolve("model.onnx"), 512);
    }

    @Test
    void miniLmIsBitIdenticalAfterRoundTrip() {
        assertRoundTrip(TestModels.miniLm().resolve("model.onnx"), 30000);
    }

    @Test
    void externalisedWriteIsBitIdenticalAndReadsBack() {
        Model model = ModelReader.read(TestModels.miniLm());
        Path external = temp.resolve("ext/model.onnx");
        ModelWriter.write(model, external, true);
        Model reread = ModelReader.read(external);
        long externalCount = reread.graph().initializers().stream().filter(v -> v.initializer().isExternal()).count();
        assertEquals(true, externalCount > 10, "large initializers moved to external data");
        Path again = temp.resolve("linked/model.onnx");
        ModelWriter.write(reread, again);
        assertOutputsEqual(TestModels.miniLm().resolve("model.onnx"), again, 30000);
    }

    private void assertRoundTrip(Path original, int vocab) {
        Model model = ModelReader.read(original);
        Path copy = temp.resolve("copy/model.onnx");
        ModelWriter.write(model, copy);
        assertOutputsEqual(original, copy, vocab);
    }

    static void assertOutputsEqual(Path expectedModel, Path actualModel, int vocab) {
        OrtRunner.Sizes sizes = OrtRunner.Sizes.small(vocab);
        Map<String, byte[]> expected = OrtRunner.run(expectedModel, sizes, 7, true);
        Map<String, byte[]> actual = OrtRunner.run(actualModel, sizes, 7, true);
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((name, bytes) -> assertArrayEquals(bytes, actual.get(name), "output " + name + " differs"));
    }
}
