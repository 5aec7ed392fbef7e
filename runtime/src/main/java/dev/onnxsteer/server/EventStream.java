package dev.onnxsteer.server;

import dev.onnxsteer.generate.Generation;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutionException;

/**
 * A streamed answer as server-sent events: the format's opening events, one event per text piece
 * as the batch thread produces it, the closing events (or an error body), then {@code data: [DONE]}.
 * A comment line is written when nothing else was for a while, which keeps proxies open and finds
 * clients that have gone away; a failed write cancels the job.
 */
final class EventStream {
    private static final long HEARTBEAT_MS = 500;
    private static final long POLL_MS = 100;

    /** How a streamed answer is framed: the events before the first piece, one per piece, and the last ones. */
    interface Format {
        default List<String> opening() {
            return List.of();
        }

        String piece(String text);

        List<String> closing(Generation g);
    }

    private EventStream() {}

    static void stream(Context ctx, CompletionJob job, Format format, JobAnswers answers) {
        var res = ctx.res();
        res.setStatus(200);
        res.setContentType("text/event-stream; charset=utf-8");
        res.setHeader("Cache-Control", "no-cache");
        res.setHeader("X-Accel-Buffering", "no");
        try {
            OutputStream out = res.getOutputStream();
            out.flush();
            for (String opening : format.opening()) {
                event(out, opening);
            }
            long lastWrite = System.nanoTime();
            while (true) {
                String piece = job.nextPiece(POLL_MS);
                if (piece != null) {
                    event(out, format.piece(piece));
                    lastWrite = System.nanoTime();
                    continue;
                }
                if (job.result().isDone()) {
                    String rest;
                    while ((rest = job.pollPiece()) != null) {
                        event(out, format.piece(rest));
                    }
                    break;
                }
                if (System.nanoTime() - lastWrite > HEARTBEAT_MS * 1_000_000) {
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    lastWrite = System.nanoTime();
                }
            }
            try {
                Generation g = job.result().get();
                for (String closing : format.closing(g)) {
                    event(out, closing);
                }
            } catch (ExecutionException e) {
                event(out, answers.failure(e.getCause()).body().toString());
            }
            event(out, "[DONE]");
        } catch (IOException | UncheckedIOException e) {
            job.cancel(); // the client went away: its row stops at the next step
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
        }
    }

    private static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
