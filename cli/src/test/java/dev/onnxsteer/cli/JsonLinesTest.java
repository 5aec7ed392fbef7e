package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --json} is one JSON object per line for every command, as scripts reading it line by line expect. */
class JsonLinesTest {
    @TempDir
    Path tmp;

    private static final String LLAMA = TestPaths.testdata().resolve("llama-tiny").toString();

    private static void assertOneObjectPerLine(CliRun run, int objects) throws Exception {
        assertEquals(Main.OK, run.code(), run.err());
        assertEquals(objects, run.out().lines().count(), run.out());
        for (String line : run.out().lines().toList()) {
            assertEquals(true, new ObjectMapper().readTree(line).isObject(), line);
        }
    }

    @Test
    void inspectCompileAndSweepPrintOneLineEach() throws Exception {
        assertOneObjectPerLine(run("inspect", LLAMA, "--json"), 1);
        Path vector = tmp.resolve("v.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(2, new float[32]), VectorMetadata.defaults()), vector);
        assertOneObjectPerLine(run("compile", LLAMA, "--vector", vector.toString(), "-o", tmp.resolve("out").toString(),
                "--json"), 1);
        assertOneObjectPerLine(run("sweep", LLAMA, "--dataset", TestPaths.testdata().resolve("happy-sad.jsonl").toString(),
                "--device", "cpu", "--json"), 1);
    }
}
