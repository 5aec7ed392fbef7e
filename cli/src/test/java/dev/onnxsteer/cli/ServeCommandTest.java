package dev.onnxsteer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve} and {@code export-triton} from the command line on stories260K. */
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
        StringWriter err = new StringWriter();
        StringWriter out = new StringWriter();
        CompletableFuture<Integer> code = CompletableFuture.supplyAsync(() -> Main.run(new PrintWriter(out, true),
                new PrintWriter(err, true), "serve", model.toString(), "--vectors", vectors.toString(), "--port", "0",
                "--device", "cpu", "--api-key", "k"));
        Pattern serving = Pattern.compile("serving stories on cpu at (http://127\\.0\\.0\\.1:\\d+) with vectors \\[wave\\]");
        Matcher m = serving.matcher("");
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!(m = serving.matcher(err.toString())).find()) {
            assertTrue(System.nanoTime() < until && !code.isDone(), "no start line: " + err);
            Thread.sleep(20);
        }
        URI base = URI.create(m.group(1));
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

        ServeCommand.stopSignal.countDown();
        assertEquals(Main.OK, code.get(60, TimeUnit.SECONDS), err.toString());
        assertTrue(err.toString().contains("onnx-steer: stopped"), err.toString());
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
}
