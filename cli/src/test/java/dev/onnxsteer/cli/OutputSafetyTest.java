package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * No command deletes or overwrites a user's file or directory without {@code --force}, and none ever
 * removes a directory that holds or lies inside one of its inputs: the data-loss cases of issue 18.
 */
class OutputSafetyTest {
    @TempDir
    Path tmp;

    private Path model;
    private Path vector;

    /** m/stories: a copy of the llama fixture, so a test that went wrong could only delete the copy. */
    @BeforeEach
    void copyModel() throws IOException {
        model = Files.createDirectories(tmp.resolve("m/stories"));
        for (String file : List.of("model.onnx", "config.json", "tokenizer.json")) {
            Files.copy(TestPaths.testdata().resolve("llama-tiny").resolve(file), model.resolve(file));
        }
        vector = tmp.resolve("v.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(2, new float[32]), VectorMetadata.defaults()), vector);
    }

    /** A directory of the user's own: keep.txt and sub/y.txt. */
    private Path scratch(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name).resolve("sub"));
        Files.writeString(dir.getParent().resolve("keep.txt"), "mine");
        Files.writeString(dir.resolve("y.txt"), "also mine");
        return dir.getParent();
    }

    private static void assertScratchIntact(Path dir) throws IOException {
        assertEquals("mine", Files.readString(dir.resolve("keep.txt")));
        assertEquals("also mine", Files.readString(dir.resolve("sub/y.txt")));
        assertFalse(Files.exists(dir.resolve("model.onnx")), "nothing written into it");
    }

    private static void assertRefused(CliRun run, String... fragments) {
        assertEquals(Main.USAGE, run.code(), run.err());
        assertEquals(1, run.err().lines().count(), "one line: " + run.err());
        for (String fragment : fragments) {
            assertTrue(run.err().contains(fragment), run.err());
        }
    }

    private void assertModelIntact() throws IOException {
        assertArrayEquals(Files.readAllBytes(TestPaths.testdata().resolve("llama-tiny/model.onnx")),
                Files.readAllBytes(model.resolve("model.onnx")));
        assertTrue(Files.isRegularFile(model.resolve("tokenizer.json")));
    }

    /**
     * Without {@code --force} the command is refused in one line and the scratch directory is kept as it was;
     * with it, the directory holds only the command's output, and nothing is left beside it.
     */
    private static void assertRefusedThenReplaced(Path dir, String written, String... args) throws IOException {
        assertRefused(run(args), "output directory " + dir + " exists and is not empty (keep.txt, sub)", "--force");
        assertScratchIntact(dir);
        CliRun forced = run(withForce(args));
        assertEquals(Main.OK, forced.code(), forced.err());
        assertTrue(Files.isRegularFile(dir.resolve(written)));
        assertFalse(Files.exists(dir.resolve("keep.txt")), "replaced, not merged");
        assertNoLeftovers(dir.getParent());
    }

    private static String[] withForce(String... args) {
        return Stream.concat(Stream.of(args), Stream.of("--force")).toArray(String[]::new);
    }

    /** No staging or moved-aside directory is left beside the output. */
    private static void assertNoLeftovers(Path parent) throws IOException {
        try (Stream<Path> entries = Files.list(parent)) {
            List<String> hidden = entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList();
            assertEquals(List.of(), hidden);
        }
    }

    @Test
    void compileRefusesAScratchDirectoryAndWithForceReplacesItAtomically() throws IOException {
        Path out = scratch("scratch");
        assertRefusedThenReplaced(out, "model.onnx", "compile", model.toString(), "--vector", vector.toString(),
                "-o", out.toString());
    }

    @Test
    void compileNeverRemovesTheInputsParentEvenWithForce() throws IOException {
        Path parent = model.getParent();
        CliRun refused = run("compile", model.toString(), "--vector", vector.toString(), "-o", parent.toString());
        assertRefused(refused, "output directory " + parent);
        CliRun forced = run("compile", model.toString(), "--vector", vector.toString(), "-o", parent.toString(), "--force");
        assertRefused(forced, "output directory " + parent + " contains the input", "never overwritten");
        assertModelIntact();
    }

    @Test
    void compileNeverReplacesTheInputOrADirectoryInsideIt() throws IOException {
        CliRun same = run("compile", model.toString(), "--vector", vector.toString(), "-o", model.toString(), "--force");
        assertRefused(same, "is the input model's directory");
        Path inside = scratch("m/stories/mine");
        CliRun forced = run("compile", model.toString(), "--vector", vector.toString(), "-o", inside.toString(), "--force");
        assertRefused(forced, "is inside the input directory " + model);
        assertScratchIntact(inside);
        assertModelIntact();
    }

    @Test
    void compileNeverRemovesADirectoryHoldingItsVectorFile() throws IOException {
        Path vectors = scratch("vectors");
        Path held = vectors.resolve("held.gguf");
        Files.copy(vector, held);
        CliRun forced = run("compile", model.toString(), "--vector", held + ":2", "-o", vectors.toString(), "--force");
        assertRefused(forced, "contains the input " + held);
        assertTrue(Files.isRegularFile(held));
        assertScratchIntact(vectors);
    }

    @Test
    void extractRefusesAnExistingVectorFileUnlessForced() throws IOException {
        Path out = tmp.resolve("happy.gguf");
        Files.copy(vector, out);
        byte[] before = Files.readAllBytes(out);
        String[] extract = {"extract", model.toString(), "--positive", "a b", "--negative", "b a", "--layers", "1-2",
                "--device", "cpu", "-o", out.toString()};
        assertRefused(run(extract), "output " + out + " exists; pass --force to replace it");
        assertArrayEquals(before, Files.readAllBytes(out));

        CliRun replaced = run(withForce(extract));
        assertEquals(Main.OK, replaced.code(), replaced.err());
        assertEquals(List.of(1, 2), List.copyOf(VectorFiles.read(out).layerIndices()), "the new two-layer vector");
        assertNoLeftovers(tmp);
    }

    @Test
    void sweepRefusesAnExistingPlotUnlessForced() throws IOException {
        Path plot = tmp.resolve("sweep.png");
        Files.writeString(plot, "my chart");
        CliRun refused = run("sweep", model.toString(), "--dataset", TestPaths.testdata().resolve("happy-sad.jsonl").toString(),
                "--device", "cpu", "--plot", plot.toString());
        assertRefused(refused, "output " + plot + " exists; pass --force");
        assertEquals("my chart", Files.readString(plot));
    }

    @Test
    void importRefusesANonEmptyDirectoryAndNeverOneHoldingTheGguf() throws IOException {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path out = scratch("imported");
        Path held = out.resolve("stories.gguf");
        Files.copy(gguf, held);
        assertRefused(run("import", held.toString(), "-o", out.toString(), "--force"), "contains the input " + held);
        assertScratchIntact(out);

        Files.delete(held);
        assertRefusedThenReplaced(out, "model.onnx", "import", gguf.toString(), "-o", out.toString());
    }

    @Test
    void exportTritonRefusesANonEmptyEntryUnlessForced() throws IOException {
        Path repo = tmp.resolve("repo");
        Path entry = scratch("repo/stories");
        assertRefusedThenReplaced(entry, "config.pbtxt", "export-triton", model.toString(), "-o", repo.toString());
    }
}
