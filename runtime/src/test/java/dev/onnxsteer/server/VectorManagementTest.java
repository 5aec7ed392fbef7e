package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GET/POST/DELETE /v1/vectors behind the API key: validation, size limit, atomic files, requests in flight. */
class VectorManagementTest {
    private static final String[] KEY = {"Authorization", "Bearer secret"};
    @TempDir
    Path tmp;
    Path dir;
    ServedModel model;
    SteerServer server;
    URI base;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createDirectories(tmp.resolve("vectors"));
        Files.copy(Stories.vectors().resolve("happy.gguf"), dir.resolve("happy.gguf"));
        model = ServedModel.open(Stories.files(), dir, SessionConfig.cpu());
        server = SteerServer.start(model, ServerConfig.defaults().withPort(0).withApiKey("secret"));
        base = server.uri();
    }

    @AfterEach
    void stop() {
        server.stop();
        model.close();
    }

    private Http.Reply upload(String name, byte[] body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve("/v1/vectors?name=" + name))
                .header("Content-Type", "application/octet-stream").POST(HttpRequest.BodyPublishers.ofByteArray(body));
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return Http.send(b.build());
    }

    private Http.Reply delete(String name, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve("/v1/vectors/" + name)).DELETE();
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return Http.send(b.build());
    }

    private List<String> files() throws Exception {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static String completion(String vector, double scale) {
        return "{\"prompt\": \"Once upon a time\", \"max_tokens\": 20, \"temperature\": 0, \"steering\": [{\"vector\": \""
                + vector + "\", \"scale\": " + scale + "}]}";
    }

    @Test
    void uploadListSteerDelete() throws Exception {
        JsonNode before = Http.get(base, "/v1/vectors", KEY).json();
        assertEquals("startup", before.get("data").get(0).get("provenance").get("origin").asText());
        assertEquals(Provenance.sha256(dir.resolve("happy.gguf")),
                before.get("data").get(0).get("provenance").get("sha256").asText());
        assertEquals("resid_post layers [0, 1, 2, 3, 4]", before.get("steerable").asText());

        byte[] sad = Files.readAllBytes(Stories.vectors().resolve("sad.safetensors"));
        Http.Reply created = upload("sad2", sad, KEY);
        assertEquals(201, created.status(), created.body());
        JsonNode entry = created.json();
        assertEquals("[1,3]", entry.get("layers").toString());
        assertEquals("upload", entry.get("provenance").get("origin").asText());
        assertEquals("sad2.safetensors", entry.get("provenance").get("file").asText());
        assertEquals(Stories.NORM, entry.get("norms").get("1").asDouble(), 1e-4);
        assertEquals(List.of("happy.gguf", "sad2.safetensors"), files(), "stored, no staging left behind");
        assertEquals(2, Http.get(base, "/v1/vectors", KEY).json().get("data").size());

        Generation expected = Reference.generate("Once upon a time", SteerServerTest.config(20, 0, null),
                List.of(new SteeringTerm("sad", -1.5f)));
        Http.Reply steered = Http.post(base, "/v1/completions", completion("sad2", -1.5), KEY);
        assertEquals(200, steered.status(), steered.body());
        assertEquals(expected.text(), steered.json().get("choices").get(0).get("text").asText());

        assertEquals(409, upload("sad2", sad, KEY).status());
        Http.Reply deleted = delete("sad2", KEY);
        assertEquals(200, deleted.status(), deleted.body());
        assertTrue(deleted.json().get("deleted").asBoolean());
        assertEquals(List.of("happy.gguf"), files());
        Http.Reply gone = Http.post(base, "/v1/completions", completion("sad2", 1), KEY);
        assertEquals(400, gone.status());
        assertTrue(gone.body().contains("unknown vector 'sad2'; known vectors: [happy]"), gone.body());
    }

    @Test
    void badUploadsAreRefusedAndLeaveNothingBehind() throws Exception {
        Path narrow = tmp.resolve("narrow.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(2, new float[48]), VectorMetadata.defaults()), narrow);
        Http.Reply wrongSize = upload("narrow", Files.readAllBytes(narrow), KEY);
        assertEquals(400, wrongSize.status(), wrongSize.body());
        assertEquals("the uploaded vector narrow has 48 values per layer but resid_post.2 of the model has hidden size 64",
                wrongSize.json().get("error").get("message").asText());

        Http.Reply huge = upload("huge", new byte[50 * 1024 * 1024], KEY);
        assertEquals(413, huge.status(), huge.body());
        assertTrue(huge.json().get("error").get("message").asText().contains("larger than " + (16 << 20) + " bytes"), huge.body());

        Path calm = tmp.resolve("calm.gguf");
        VectorFiles.write(Stories.vectors(Map.of(1, 3L), "resid_mid"), calm);
        Http.Reply otherSite = upload("calm", Files.readAllBytes(calm), KEY);
        assertEquals(400, otherSite.status());
        assertTrue(otherSite.body().contains("steers resid_mid at layers [1] but this server takes steering at resid_post"),
                otherSite.body());

        Http.Reply garbage = upload("junk", "hello, not a vector".getBytes(), KEY);
        assertEquals(400, garbage.status());
        assertTrue(garbage.body().contains("neither a .gguf control vector"), garbage.body());
        byte[] brokenGguf = java.util.Arrays.copyOf(Files.readAllBytes(narrow), 40);
        Http.Reply truncated = upload("cut", brokenGguf, KEY);
        assertEquals(400, truncated.status(), truncated.body());
        assertTrue(truncated.body().contains("the uploaded vector cut is not a readable .gguf file"), truncated.body());

        Http.Reply badName = upload("..%2Fescape", Files.readAllBytes(narrow), KEY);
        assertEquals(400, badName.status(), badName.body());
        assertEquals("name", badName.json().get("error").get("param").asText());

        Http.Reply unknown = delete("nope", KEY);
        assertEquals(404, unknown.status());
        assertTrue(unknown.body().contains("unknown vector 'nope'; known vectors: [happy]"), unknown.body());
        assertEquals(List.of("happy.gguf"), files());
    }

    @Test
    void everyVectorEndpointNeedsTheKey() throws Exception {
        byte[] happy = Files.readAllBytes(dir.resolve("happy.gguf"));
        assertEquals(401, Http.get(base, "/v1/vectors").status());
        assertEquals(401, upload("x", happy).status());
        assertEquals(401, upload("x", happy, "Authorization", "Bearer wrong").status());
        assertEquals(401, delete("happy").status());
        assertEquals(List.of("happy.gguf"), files());
    }

    @Test
    void aRequestInFlightKeepsTheVectorItStartedWith() throws Exception {
        upload("sad2", Files.readAllBytes(Stories.vectors().resolve("sad.safetensors")), KEY);
        CountDownLatch generating = new CountDownLatch(1);
        CountDownLatch deleted = new CountDownLatch(1);
        AtomicBoolean first = new AtomicBoolean(true);
        server.scheduler().hooks(() -> { }, () -> {
            if (first.getAndSet(false)) {
                generating.countDown();
                try {
                    deleted.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        CompletableFuture<Http.Reply> inFlight = Http.sendAsync(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .header("Authorization", "Bearer secret").POST(HttpRequest.BodyPublishers.ofString(completion("sad2", 2)))
                .build());
        assertTrue(generating.await(30, TimeUnit.SECONDS), "the request started generating");
        assertEquals(200, delete("sad2", KEY).status());
        assertFalse(Files.exists(dir.resolve("sad2.safetensors")));
        assertEquals(400, Http.post(base, "/v1/completions", completion("sad2", 2), KEY).status(),
                "a new request cannot name it");
        deleted.countDown();
        Http.Reply reply = inFlight.get(60, TimeUnit.SECONDS);
        assertEquals(200, reply.status(), reply.body());
        Generation expected = Reference.generate("Once upon a time", SteerServerTest.config(20, 0, null),
                List.of(new SteeringTerm("sad", 2)));
        assertEquals(expected.text(), reply.json().get("choices").get(0).get("text").asText(),
                "steered all the way by the deleted vector");
    }

    @Test
    void readOnlyVectorsRefuseChanges() throws Exception {
        try (ServedModel fixed = ServedModel.open(Stories.files(), dir, SessionConfig.cpu(),
                ServeOptions.DEFAULTS.withReadOnlyVectors(true));
                SteerServer readOnly = SteerServer.start(fixed, ServerConfig.defaults().withPort(0))) {
            URI ro = readOnly.uri();
            Http.Reply post = Http.send(HttpRequest.newBuilder(ro.resolve("/v1/vectors?name=x"))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(Files.readAllBytes(dir.resolve("happy.gguf")))).build());
            assertEquals(403, post.status(), post.body());
            assertTrue(post.body().contains("read-only"), post.body());
            Http.Reply del = Http.send(HttpRequest.newBuilder(ro.resolve("/v1/vectors/happy")).DELETE().build());
            assertEquals(403, del.status());
            JsonNode list = Http.get(ro, "/v1/vectors").json();
            assertTrue(list.get("read_only").asBoolean());
            assertEquals("resid_post layers [2]", list.get("steerable").asText(), "only what the start-up vectors use");
        }
        assertEquals(List.of("happy.gguf"), files());
    }
}
