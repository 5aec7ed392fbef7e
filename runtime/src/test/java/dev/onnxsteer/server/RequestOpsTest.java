package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.VectorFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code steering[].op} ablate and clamp per request on a server started with the ablate/clamp stage
 * ({@code serve --allow-ablate-clamp}): each row of one batch equals {@code generate} of the model
 * compiled with {@code --op} of the same vector, and add and unsteered rows are unchanged.
 */
class RequestOpsTest {
    private static final String PROMPT = "Once upon a time";
    private static final int TOKENS = 24;
    private static ServedModel model;
    private static SteerServer server;

    @BeforeAll
    static void start() {
        model = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu(),
                ServeOptions.DEFAULTS.withAblateClamp(true));
        server = SteerServer.start(model, ServerConfig.defaults().withPort(0));
    }

    @AfterAll
    static void stop() {
        server.stop();
        model.close();
    }

    /** {@code generate} with stories compiled (mode add) with {@code options} of happy (resid_post.2) at {@code coefficient}; no options: the original. */
    private static String generate(SteerOptions options, float coefficient) {
        ModelConfig config = ModelConfig.load(Stories.files().directory());
        float[] happy = VectorFiles.read(Stories.vectors().resolve("happy.gguf")).layer(2);
        List<Steering> steering = options == null ? List.of() : List.of(new Steering(SiteKind.RESID_POST, 2, happy, coefficient));
        try (Tokenizer tokenizer = Tokenizer.load(Stories.files().tokenizer(), config);
                ModelSession session = SessionFactory.open(Compilation.compile(Stories.files(), s -> steering, Mode.ADD,
                        options == null ? SteerOptions.ADD : options).model(), "reference", SessionConfig.cpu())) {
            return Generator.create(session, tokenizer, config).generate(List.of(PROMPT),
                    SteerServerTest.config(TOKENS, 0, null)).get(0).text();
        }
    }

    private static String body(String steering) {
        return "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": " + TOKENS + ", \"temperature\": 0, \"steering\": " + steering + "}";
    }

    @Test
    void oneBatchMixesAblateClampAddAndUnsteeredRowsEachEqualToItsCompile() throws Exception {
        List<String> steering = List.of("[{\"vector\": \"happy\", \"op\": \"ablate\"}]",
                "[{\"vector\": \"happy\", \"op\": \"clamp\", \"value\": 8}]", "[{\"vector\": \"happy\", \"scale\": 3}]", "[]");
        List<String> expected = List.of(generate(SteerOptions.of(SteerOp.ABLATE), 1f), generate(SteerOptions.of(SteerOp.CLAMP), 8f),
                generate(SteerOptions.ADD, 3f), generate(null, 0f));
        assertNotEquals(expected.get(3), expected.get(1), "clamping to 8 changes the story");

        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean first = new AtomicBoolean(true);
        List<Integer> batches = new CopyOnWriteArrayList<>();
        server.scheduler().hooks(() -> {
            batches.add(server.scheduler().running());
            if (first.getAndSet(false)) {
                try {
                    release.await(30, TimeUnit.SECONDS); // hold the first batch until the four rows are queued
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }, () -> { });
        try {
            CompletableFuture<Http.Reply> blocker = Http.sendAsync(Http.completionRequest(server.uri(), body("[]")));
            ServerLimitsTest.await(() -> server.scheduler().running() == 1, "the first batch to start");
            List<CompletableFuture<Http.Reply>> replies = new ArrayList<>();
            for (String s : steering) {
                replies.add(Http.sendAsync(Http.completionRequest(server.uri(), body(s))));
                int queued = replies.size();
                ServerLimitsTest.await(() -> server.scheduler().queueDepth() == queued, "request " + queued + " to queue");
            }
            release.countDown();
            assertEquals(200, blocker.get(60, TimeUnit.SECONDS).status());
            for (int i = 0; i < steering.size(); i++) {
                Http.Reply reply = replies.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(200, reply.status(), reply.body());
                assertEquals(expected.get(i), reply.json().get("choices").get(0).get("text").asText(), steering.get(i));
            }
            assertEquals(List.of(1, 4), batches, "the four rows ran as one batch");
        } finally {
            release.countDown();
            server.scheduler().hooks(() -> { }, () -> { });
        }
    }

    @Test
    void entriesThatDoNotFitTheOpAreRefusedNamingTheField() {
        String[][] cases = {
                {"[{\"vector\": \"happy\", \"op\": \"clamp\"}]", "steering op clamp needs value"},
                {"[{\"vector\": \"happy\", \"op\": \"clamp\", \"value\": 2, \"scale\": 1}]", "takes its strength from value, not scale"},
                {"[{\"vector\": \"happy\", \"op\": \"ablate\", \"scale\": 2}]", "uses only the vector's direction"},
                {"[{\"vector\": \"happy\", \"value\": 2}]", "value only applies to op clamp"},
                {"[{\"vector\": \"happy\", \"op\": \"ablate\"}, {\"vector\": \"happy\", \"op\": \"clamp\", \"value\": 1}]",
                        "ablate and clamp take one direction per site, but resid_post.2 gets two (happy and happy)"}};
        for (String[] c : cases) {
            Http.Reply reply = Http.post(server.uri(), "/v1/completions", body(c[0]));
            assertEquals(400, reply.status(), c[0]);
            assertEquals("steering", reply.json().get("error").get("param").asText());
            assertTrue(reply.json().get("error").get("message").asText().contains(c[1]), reply.body());
        }
    }
}
