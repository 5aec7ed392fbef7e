package dev.onnxsteer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SaeFixture;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve} (with {@code --sae}) and {@code export-triton} from the command line on stories260K. */
class ServeCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path vectors;

    @BeforeAll
    static void importModel() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        model = tmp.resolve("stories");
        assertEquals(Main.OK, CliRun.run("import", gguf.toString(), "-o", model.toString()).code());
        vectors = Files.createDirectories(tmp.resolve("vectors"));
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.sin(i * 0.7) * 0.8f;
        }
        VectorFiles.write(SteeringVectors.of(Map.of(2, v), VectorMetadata.defaults()), vectors.resolve("wave.gguf"));
    }

    @Test
    void servesUntilStoppedWithSteeringFromTheVectorsDirectory() throws Exception {
        RunningServe serve = new RunningServe(model.toString(), "--vectors", vectors.toString(), "--port", "0",
                "--device", "cpu", "--api-key", "k");
        assertTrue(serve.err.toString().contains("serving stories on cpu at http://127.0.0.1:"), serve.err.toString());
        assertTrue(serve.err.toString().contains("with vectors [wave] (API key required)"), serve.err.toString());
        URI base = serve.base;
        HttpClient client = HttpClient.newHttpClient();
        HttpResponse<String> reply = client.send(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .header("Authorization", "Bearer k").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0,"
                                + " \"steering\": [{\"vector\": \"wave\", \"scale\": 2}]}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, reply.statusCode(), reply.body());
        JsonNode json = new ObjectMapper().readTree(reply.body());
        assertEquals(8, json.get("usage").get("completion_tokens").asInt());
        assertEquals(401, client.send(HttpRequest.newBuilder(base.resolve("/v1/vectors")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());

        assertEquals(Main.OK, serve.stop(), serve.err.toString());
        assertTrue(serve.err.toString().contains("onnx-steer: stopped"), serve.err.toString());
    }

    @Test
    void badServeArgumentsExitWithUsageOrBadInput() {
        CliRun missing = CliRun.run("serve", model.toString());
        assertEquals(Main.USAGE, missing.code());
        assertTrue(missing.err().contains("--vectors"), missing.err());
        CliRun noDir = CliRun.run("serve", model.toString(), "--vectors",
                tmp.resolve("nothing").toString(), "--device", "cpu");
        assertEquals(Main.BAD_INPUT, noDir.code(), noDir.err());
        assertTrue(noDir.err().contains("does not exist"), noDir.err());
    }

    @Test
    void largeVectorsAreRefusedUnlessAllowed() throws Exception {
        Path huge = Files.createDirectories(tmp.resolve("huge-vectors"));
        float[] v = new float[64];
        v[5] = 3.9e23f;
        VectorFiles.write(SteeringVectors.of(Map.of(2, v), VectorMetadata.defaults()), huge.resolve("huge.gguf"));
        CliRun refused = CliRun.run("serve", model.toString(), "--vectors", huge.toString(), "--port", "0", "--device", "cpu");
        assertEquals(Main.BAD_INPUT, refused.code(), refused.err());
        assertTrue(refused.err().contains("huge.gguf: layer 2 vector is implausibly large (expected an L2 norm of at most "
                + "1.000e+05, the bound for a file that records no activation norm, found 3.900e+23); --allow-large-vectors "
                + "uses it anyway"), refused.err());

        RunningServe serve = new RunningServe(model.toString(), "--vectors", huge.toString(), "--port", "0",
                "--device", "cpu", "--allow-large-vectors");
        assertTrue(serve.err.toString().contains("with vectors [huge]"), serve.err.toString());
        assertEquals(Main.OK, serve.stop(), serve.err.toString());
    }

    @Test
    void exportTritonWritesARepository() throws Exception {
        Path compiled = tmp.resolve("stories-input");
        CliRun compile = CliRun.run("compile", model.toString(), "--vector",
                vectors.resolve("wave.gguf").toString(), "--mode", "input", "-o", compiled.toString());
        assertEquals(Main.OK, compile.code(), compile.err());
        Path repo = tmp.resolve("triton");
        CliRun export = CliRun.run("export-triton", compiled.toString(), "-o", repo.toString(),
                "--name", "stories_steered");
        assertEquals(Main.OK, export.code(), export.err());
        assertTrue(export.out().contains("steer.resid_post.2.vector"), export.out());
        String config = Files.readString(repo.resolve("stories_steered/config.pbtxt"));
        assertTrue(config.contains("backend: \"onnxruntime\"") && config.contains("dynamic_batching"), config);
        assertTrue(Files.isRegularFile(repo.resolve("stories_steered/1/model.onnx")));
        CliRun again = CliRun.run("export-triton", compiled.toString(), "-o", repo.toString(),
                "--name", "stories_steered");
        assertEquals(Main.USAGE, again.code(), again.err());
    }

    @Test
    void aRequestsSaeFeatureEqualsGenerateWithTheSaeSpec() throws Exception {
        Path sae = new SaeFixture(64, 16, 8).write(tmp.resolve("sae"), "blocks.3.hook_resid_post", false);
        RunningServe serve = new RunningServe(model.toString(), "--vectors", vectors.toString(), "--port", "0",
                "--device", "cpu", "--sae", "res3=" + sae);
        try {
            assertTrue(serve.err.toString().contains("with vectors [wave]; no chat template; SAEs [res3]"),
                    serve.err.toString());
            HttpResponse<String> reply = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    serve.base.resolve("/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"prompt\": \"Once upon a time\", \"max_tokens\": 20, \"temperature\": 0,"
                            + " \"steering\": [{\"sae\": \"res3\", \"feature\": 11, \"unit\": true, \"scale\": 8}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, reply.statusCode(), reply.body());
            JsonNode served = new ObjectMapper().readTree(reply.body());
            CliRun generated = CliRun.run("generate", model.toString(), "--vector", "sae:" + sae + "#11,unit:8", "--prompt",
                    "Once upon a time", "--max-tokens", "20", "--device", "cpu", "--json");
            assertEquals(Main.OK, generated.code(), generated.err());
            JsonNode expected = new ObjectMapper().readTree(generated.out());
            assertEquals(expected.get("text").asText(), served.get("choices").get(0).get("text").asText());
        } finally {
            assertEquals(Main.OK, serve.stop(), serve.err.toString());
        }
    }

    @Test
    void anSaeDirectoryThatIsNotOneIsBadInputAndOneWithoutADirectoryIsAUsageError() {
        CliRun missing = CliRun.run("serve", model.toString(), "--vectors", vectors.toString(), "--port", "0", "--device",
                "cpu", "--sae", "res3=" + tmp.resolve("nothing-here"));
        assertEquals(Main.BAD_INPUT, missing.code(), missing.err());
        assertTrue(missing.err().contains("cfg.json"), missing.err());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        CliRun noDir = CliRun.run("serve", model.toString(), "--vectors", vectors.toString(), "--sae", "res3");
        assertEquals(Main.USAGE, noDir.code(), noDir.err());
    }
}
