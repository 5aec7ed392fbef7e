package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SaeFixture;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve --sae NAME=DIR}: a request's SAE feature steers as {@code generate --vector sae:DIR#N:C} does. */
class ServeSaeCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path vectors;

    @BeforeAll
    static void importModel() throws Exception {
        model = tmp.resolve("stories");
        CliRun imported = run("import", TestPaths.sharedModel("stories260K/stories260K.gguf").toString(), "-o",
                model.toString());
        assertEquals(Main.OK, imported.code(), imported.err());
        vectors = Files.createDirectories(tmp.resolve("vectors"));
    }

    @Test
    void aRequestsFeatureEqualsGenerateWithTheSaeSpec() throws Exception {
        Path sae = new SaeFixture(64, 16, 8).write(tmp.resolve("sae"), "blocks.3.hook_resid_post", false);
        RunningServe serve = new RunningServe(model.toString(), "--vectors", vectors.toString(), "--port", "0",
                "--device", "cpu", "--sae", "res3=" + sae);
        try {
            assertTrue(serve.err.toString().contains("with vectors []; no chat template; SAEs [res3]"), serve.err.toString());
            HttpResponse<String> reply = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    serve.base.resolve("/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"prompt\": \"Once upon a time\", \"max_tokens\": 20, \"temperature\": 0,"
                            + " \"steering\": [{\"sae\": \"res3\", \"feature\": 11, \"unit\": true, \"scale\": 8}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, reply.statusCode(), reply.body());
            JsonNode served = new ObjectMapper().readTree(reply.body());
            CliRun generated = run("generate", model.toString(), "--vector", "sae:" + sae + "#11,unit:8", "--prompt",
                    "Once upon a time", "--max-tokens", "20", "--device", "cpu", "--json");
            assertEquals(Main.OK, generated.code(), generated.err());
            JsonNode expected = new ObjectMapper().readTree(generated.out());
            assertEquals(expected.get("text").asText(), served.get("choices").get(0).get("text").asText());
        } finally {
            assertEquals(Main.OK, serve.stop(), serve.err.toString());
        }
    }

    @Test
    void anSaeDirectoryThatIsNotOneIsBadInputAndAMissingDirIsAUsageError() {
        CliRun missing = run("serve", model.toString(), "--vectors", vectors.toString(), "--port", "0", "--device", "cpu",
                "--sae", "res3=" + tmp.resolve("nothing-here"));
        assertEquals(Main.BAD_INPUT, missing.code(), missing.err());
        assertTrue(missing.err().contains("cfg.json"), missing.err());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        CliRun noDir = run("serve", model.toString(), "--vectors", vectors.toString(), "--sae", "res3");
        assertEquals(Main.USAGE, noDir.code(), noDir.err());
    }
}
