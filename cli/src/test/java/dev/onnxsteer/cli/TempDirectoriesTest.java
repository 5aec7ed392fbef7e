package dev.onnxsteer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command, succeeding and failing, leaves nothing in the temp directory or beside its output: the temp
 * directory and the output directory are listed before and after each run. Each command runs in its own JVM,
 * since ONNX Runtime's loader litters only at load and exit, with a private {@code java.io.tmpdir} so the count
 * is exact however many other processes share the machine's.
 */
class TempDirectoriesTest {
    private static final Path LLAMA = TestPaths.testdata().resolve("llama-tiny");
    private static final Path DATASET = TestPaths.testdata().resolve("happy-sad.jsonl");

    @TempDir
    Path tmp;
    private Path javaTmp;
    private Path outputs;

    @BeforeEach
    void directories() throws IOException {
        javaTmp = Files.createDirectories(tmp.resolve("java-tmp"));
        outputs = Files.createDirectories(tmp.resolve("outputs"));
    }

    private ProcessBuilder cli(String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.io.tmpdir=" + javaTmp, "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("cli.log").toFile());
        builder.environment().put("ONNX_STEER_CACHE", tmp.resolve("cache").toString());
        return builder;
    }

    private static int waitFor(Process process, String what) throws InterruptedException {
        if (!process.waitFor(5, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            throw new AssertionError("the command did not finish: " + what);
        }
        return process.exitValue();
    }

    private static TreeSet<String> names(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    /**
     * Runs one command line, which must exit with {@code code}; afterwards the temp directory holds what it held
     * before and the outputs directory what it held plus {@code created} (the command's own output, if any).
     */
    private void assertLeavesNothing(int code, String created, String... args) throws Exception {
        TreeSet<String> tmpBefore = names(javaTmp);
        TreeSet<String> outputsExpected = names(outputs);
        if (created != null) {
            outputsExpected.add(created);
        }
        String what = Arrays.toString(args);
        assertEquals(code, waitFor(cli(args).start(), what), () -> what + ": " + log());
        assertEquals(tmpBefore, names(javaTmp), () -> what + " left something in java.io.tmpdir");
        assertEquals(outputsExpected, names(outputs), () -> what + " left something beside its output");
    }

    private String out(String name) {
        return outputs.resolve(name).toString();
    }

    private Path vector(String name, float value) {
        float[] v = new float[32];
        v[3] = 1.5f;
        v[4] = value;
        Path file = tmp.resolve(name);
        VectorFiles.write(SteeringVectors.of(Map.of(2, v), VectorMetadata.defaults()), file);
        return file;
    }

    @Test
    void everyCommandSucceedingOrFailingLeavesNoTemporaryFiles() throws Exception {
        Path good = vector("good.gguf", 0.5f);
        Path huge = vector("huge.gguf", 3e30f);
        Path identical = tmp.resolve("identical.jsonl");
        Files.writeString(identical, "{\"positive\": \"same\", \"negative\": \"same\"}\n");
        Path notAModel = tmp.resolve("not-a-model.onnx");
        Files.writeString(notAModel, "not protobuf");
        Path broken = Files.createDirectories(tmp.resolve("broken-model"));
        try (Stream<Path> files = Files.list(LLAMA)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.copy(p, broken.resolve(p.getFileName()));
            }
        }
        Files.writeString(broken.resolve("model.onnx"), "not protobuf");
        String model = LLAMA.toString();

        assertLeavesNothing(Main.OK, null, "inspect", model);
        assertLeavesNothing(Main.BAD_INPUT, null, "inspect", notAModel.toString());

        assertLeavesNothing(Main.OK, "steered", "compile", model, "--vector", good.toString(), "-o", out("steered"));
        assertLeavesNothing(Main.BAD_INPUT, null, "compile", model, "--vector", huge.toString(), "-o", out("refused"));

        assertLeavesNothing(Main.OK, null, "generate", model, "--prompt", "Hi", "--max-tokens", "2", "--device", "cpu");
        assertLeavesNothing(Main.BAD_INPUT, null, "generate", broken.toString(), "--prompt", "Hi", "--device", "cpu");

        assertLeavesNothing(Main.OK, null, "parity", model, out("steered"), "--tokens", "2");
        assertLeavesNothing(Main.BAD_INPUT, null, "parity", model, broken.toString(), "--tokens", "2");

        assertLeavesNothing(Main.OK, "v.gguf", "extract", model, "--dataset", DATASET.toString(), "--layers", "1",
                "--device", "cpu", "-o", out("v.gguf"));
        assertLeavesNothing(Main.BAD_INPUT, null, "extract", model, "--dataset", identical.toString(), "--layers", "1",
                "--device", "cpu", "-o", out("refused.gguf"));

        assertLeavesNothing(Main.OK, "sweep.png", "sweep", model, "--dataset", DATASET.toString(), "--layers", "1-2",
                "--device", "cpu", "--plot", out("sweep.png"));
        assertLeavesNothing(Main.BAD_INPUT, null, "sweep", model, "--dataset", identical.toString(), "--layers", "1",
                "--device", "cpu", "--plot", out("refused.png"));

        assertLeavesNothing(Main.OK, "repo", "export-triton", model, "-o", out("repo"));
        assertLeavesNothing(Main.BAD_INPUT, null, "export-triton", notAModel.toString(), "-o", out("refused-repo"));
    }

    @Test
    void importLeavesNoTemporaryFiles() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path text = tmp.resolve("text.gguf");
        Files.writeString(text, "not a GGUF file");
        assertLeavesNothing(Main.OK, "stories", "import", gguf.toString(), "-o", out("stories"));
        assertLeavesNothing(Main.BAD_INPUT, null, "import", text.toString(), "-o", out("refused"));
    }

    /** A server stopped as a user stops it (SIGTERM, which runs its shutdown hook) and one that refuses to start. */
    @Test
    void serveLeavesNoTemporaryFiles() throws Exception {
        Path vectors = Files.createDirectories(tmp.resolve("vectors"));
        Files.copy(vector("good.gguf", 0.5f), vectors.resolve("good.gguf"));
        TreeSet<String> before = names(javaTmp);
        Process server = cli("serve", LLAMA.toString(), "--vectors", vectors.toString(), "--port", "0", "--device", "cpu")
                .start();
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while (!log().contains("onnx-steer: serving") && server.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(200);
            }
            assertTrue(log().contains("onnx-steer: serving"), () -> "the server did not start: " + log());
        } finally {
            server.destroy();
        }
        waitFor(server, "serve");
        assertTrue(log().contains("onnx-steer: stopped"), () -> "the server stopped through its hook: " + log());
        assertEquals(before, names(javaTmp), "serve left something in java.io.tmpdir");
        assertEquals(new TreeSet<>(List.of("good.gguf")), names(vectors), "serve left something beside its vectors");

        Files.copy(vector("huge.gguf", 3e30f), vectors.resolve("huge.gguf"));
        assertLeavesNothing(Main.BAD_INPUT, null, "serve", LLAMA.toString(), "--vectors", vectors.toString(), "--port", "0",
                "--device", "cpu");
    }

    private String log() {
        try {
            return Files.readString(tmp.resolve("cli.log"));
        } catch (IOException e) {
            return e.toString();
        }
    }
}
