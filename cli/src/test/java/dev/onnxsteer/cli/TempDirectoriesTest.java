package dev.onnxsteer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commands that succeed and commands that fail leave nothing in the temp directory or beside their output.
 * Each command runs in its own JVM, since ONNX Runtime's loader litters only at load and exit, with a private
 * {@code java.io.tmpdir} so the count is exact however many other processes share the machine's.
 */
class TempDirectoriesTest {
    private static final Path LLAMA = TestPaths.testdata().resolve("llama-tiny");

    @TempDir
    Path tmp;

    private int cli(Path javaTmp, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.io.tmpdir=" + javaTmp, "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("cli.log").toFile());
        builder.environment().put("ONNX_STEER_CACHE", tmp.resolve("cache").toString());
        Process process = builder.start();
        if (!process.waitFor(5, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            throw new AssertionError("the command did not finish: " + command);
        }
        return process.exitValue();
    }

    private static TreeSet<String> names(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            TreeSet<String> names = new TreeSet<>();
            entries.forEach(p -> names.add(p.getFileName().toString()));
            return names;
        }
    }

    @Test
    void succeedingAndFailingCommandsLeaveNoTemporaryDirectories() throws Exception {
        Path javaTmp = Files.createDirectories(tmp.resolve("java-tmp"));
        Path outputs = Files.createDirectories(tmp.resolve("outputs"));
        float[] v = new float[32];
        v[3] = 1.5f;
        Path good = tmp.resolve("good.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(2, v), VectorMetadata.defaults()), good);
        v[4] = 3e30f;
        Path huge = tmp.resolve("huge.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(2, v), VectorMetadata.defaults()), huge);
        Path identical = tmp.resolve("identical.jsonl");
        Files.writeString(identical, "{\"positive\": \"same\", \"negative\": \"same\"}\n");

        assertEquals(Main.OK, cli(javaTmp, "generate", LLAMA.toString(), "--prompt", "Hi", "--max-tokens", "2",
                "--device", "cpu"), () -> log());
        assertEquals(Main.OK, cli(javaTmp, "compile", LLAMA.toString(), "--vector", good.toString(),
                "-o", outputs.resolve("steered").toString()), () -> log());
        assertEquals(Main.BAD_INPUT, cli(javaTmp, "compile", LLAMA.toString(), "--vector", huge.toString(),
                "-o", outputs.resolve("refused").toString()), () -> log());
        assertEquals(Main.BAD_INPUT, cli(javaTmp, "extract", LLAMA.toString(), "--dataset", identical.toString(),
                "--layers", "1", "--device", "cpu", "-o", outputs.resolve("v.gguf").toString()), () -> log());

        assertEquals(new TreeSet<>(), names(javaTmp), "nothing left in java.io.tmpdir");
        assertEquals(new TreeSet<>(List.of("steered")), names(outputs), "only the compiled model beside the outputs");
    }

    private String log() {
        try {
            return Files.readString(tmp.resolve("cli.log"));
        } catch (IOException e) {
            return e.toString();
        }
    }
}
