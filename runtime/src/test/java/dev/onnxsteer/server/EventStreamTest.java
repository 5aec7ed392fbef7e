package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.generate.FinishReason;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The flush policy of a stream, watched write by write: the first piece goes out alone the moment it
 * is decoded; later pieces decoded within the flush interval share one write as separate events;
 * after a quiet interval a piece goes out at once; the stream ends with the closing events and [DONE].
 */
class EventStreamTest {
    private static final long HOUR = TimeUnit.HOURS.toNanos(1);
    private static final JsonTemplate PIECE = JsonTemplate.of(chunk(JsonTemplate.HOLE));

    /** What the stream flushed, one string per flush. */
    private static final class Flushes extends OutputStream {
        final BlockingQueue<String> flushed = new LinkedBlockingQueue<>();
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            pending.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            pending.write(b, off, len);
        }

        @Override
        public void flush() {
            flushed.add(pending.toString(StandardCharsets.UTF_8));
            pending.reset();
        }

        /** The next flush that is not only a keep-alive comment (one comes after 500 ms without a write). */
        String next() throws InterruptedException {
            while (true) {
                String s = flushed.poll(60, TimeUnit.SECONDS);
                if (s == null) {
                    throw new AssertionError("no flush within 60 s");
                }
                if (!s.equals(": keep-alive\n\n")) {
                    return s;
                }
            }
        }
    }

    private static ObjectNode chunk(String text) {
        ObjectNode root = Http.JSON.createObjectNode();
        root.put("object", "text_completion");
        root.putArray("choices").addObject().put("text", text);
        return root;
    }

    private static final EventStream.Format FORMAT = new EventStream.Format() {
        @Override
        public List<String> opening() {
            return List.of("{\"role\":\"assistant\"}");
        }

        @Override
        public void piece(String text, StringBuilder data) {
            PIECE.appendTo(data, text);
        }

        @Override
        public List<String> closing(Generation g) {
            ObjectNode last = chunk("");
            last.putObject("usage").put("completion_tokens", g.generatedTokens());
            return List.of(last.toString());
        }
    };

    private static CompletionJob job() {
        return new CompletionJob("Once", new long[] {1}, GenerationConfig.greedy(8),
                new BoundSteering(List.of(), VectorRegistry.of(List.of())), HOUR);
    }

    private static String event(String text) {
        return "data: " + chunk(text) + "\n\n";
    }

    private static CompletableFuture<Void> writing(OutputStream out, CompletionJob job, long intervalNanos) {
        return CompletableFuture.runAsync(() -> {
            try {
                EventStream.write(out, job, FORMAT, new JobAnswers(ServerConfig.defaults()), intervalNanos);
            } catch (IOException | InterruptedException e) {
                throw new AssertionError(e);
            }
        });
    }

    @Test
    void firstPieceAtOnceThenThePiecesOfAnIntervalInOneWrite() throws Exception {
        Flushes out = new Flushes();
        CompletionJob job = job();
        CompletableFuture<Void> done = writing(out, job, HOUR);
        assertEquals("data: {\"role\":\"assistant\"}\n\n", out.next(), "the opening goes out before any token");
        job.piece("Once");
        assertEquals(event("Once"), out.next(), "the first piece is not held for the interval");
        job.piece(" upon");
        job.piece(" a \"time\"\n");
        job.piece(""); // an empty piece is no event
        job.complete(new Generation("p", "Once upon a \"time\"\n", List.of(5L, 6L, 7L), FinishReason.LENGTH, 1, 3, 0, 0));
        done.get(60, TimeUnit.SECONDS);
        String last = out.next();
        assertEquals(event(" upon") + event(" a \"time\"\n") + "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"\"}],"
                + "\"usage\":{\"completion_tokens\":3}}\n\n" + "data: [DONE]\n\n", last,
                "two pieces decoded within one interval: two events in one write, then usage and [DONE]");
        List<String> events = Http.events(last);
        assertEquals(" a \"time\"\n", Http.JSON.readTree(events.get(1)).get("choices").get(0).get("text").asText());
        assertTrue(out.flushed.stream().allMatch(s -> s.equals(": keep-alive\n\n")), "nothing after [DONE]: " + out.flushed);
    }

    @Test
    void aPieceAfterAQuietIntervalGoesOutAtOnce() throws Exception {
        Flushes out = new Flushes();
        CompletionJob job = job();
        CompletableFuture<Void> done = writing(out, job, 1);
        out.next();
        job.piece("Once");
        assertEquals(event("Once"), out.next());
        job.piece(" upon");
        assertEquals(event(" upon"), out.next(), "written before the job completes");
        job.fail(new CompletionJob.DeadlineExceeded("the request timed out after 2 tokens"));
        done.get(60, TimeUnit.SECONDS);
        List<String> events = Http.events(out.next());
        assertEquals(2, events.size(), events.toString());
        assertEquals("the request timed out after 2 tokens (limit 120 s)",
                Http.JSON.readTree(events.get(0)).get("error").get("message").asText());
        assertEquals("[DONE]", events.get(1));
    }
}
