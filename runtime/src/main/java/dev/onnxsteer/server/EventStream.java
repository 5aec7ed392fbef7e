package dev.onnxsteer.server;

import dev.onnxsteer.generate.Generation;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A streamed answer as server-sent events: the format's opening events, one event per text piece
 * as the batch thread produces it, the closing events (or an error body), then {@code data: [DONE]}.
 *
 * <p>Flushes, not events, are what a stream costs: each one wakes this thread, writes to the
 * socket and wakes the client, on the cores the batch is decoding on. So the headers and opening
 * go out as soon as the prompt is accepted, the first piece the moment it is decoded, and after
 * that the pieces decoded within {@link #FLUSH_INTERVAL_MS} of the last write go out together, one
 * event each, in one write (a piece that comes after a quiet interval goes out at once). A comment
 * line is written when nothing else was for a while, which keeps proxies open and finds clients
 * that have gone away; a failed write cancels the job.
 */
final class EventStream {
    /** Far below what a reader notices, and several decode steps of a small model. */
    static final long FLUSH_INTERVAL_MS = 20;
    private static final long HEARTBEAT_MS = 500;

    /** How a streamed answer is framed: the events before the first piece, one per piece, and the last ones. */
    interface Format {
        default List<String> opening() {
            return List.of();
        }

        /** Appends the data of the event that carries {@code text}. */
        void piece(String text, StringBuilder data);

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
            write(res.getOutputStream(), job, format, answers, TimeUnit.MILLISECONDS.toNanos(FLUSH_INTERVAL_MS));
        } catch (IOException | UncheckedIOException e) {
            job.cancel(); // the client went away: its row stops at the next step
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
        }
    }

    /** Writes the whole stream of {@code job} to {@code out}, flushing at most once per {@code intervalNanos} after the first piece. */
    static void write(OutputStream out, CompletionJob job, Format format, JobAnswers answers, long intervalNanos)
            throws IOException, InterruptedException {
        StringBuilder events = new StringBuilder(1024);
        for (String opening : format.opening()) {
            event(events, opening);
        }
        flush(out, events);
        StreamedPieces pieces = job.pieces();
        List<String> taken = new ArrayList<>();
        long heartbeat = TimeUnit.MILLISECONDS.toNanos(HEARTBEAT_MS);
        long lastWrite = System.nanoTime();
        boolean wakeOnPiece = true; // the first piece goes out the moment it is decoded
        while (true) {
            boolean closed = pieces.take(lastWrite + (wakeOnPiece ? heartbeat : intervalNanos), wakeOnPiece, taken);
            for (String piece : taken) {
                events.append("data: ");
                format.piece(piece, events);
                events.append("\n\n");
            }
            if (closed) {
                break;
            }
            if (!taken.isEmpty()) {
                flush(out, events);
                lastWrite = System.nanoTime();
                wakeOnPiece = false;
            } else if (wakeOnPiece) {
                events.append(": keep-alive\n\n");
                flush(out, events);
                lastWrite = System.nanoTime();
            } else {
                wakeOnPiece = true; // a quiet interval: the next piece goes out when it comes
            }
            taken.clear();
        }
        try {
            Generation g = job.result().get();
            for (String closing : format.closing(g)) {
                event(events, closing);
            }
        } catch (ExecutionException e) {
            event(events, answers.failure(e.getCause()).body().toString());
        }
        event(events, "[DONE]");
        flush(out, events);
    }

    private static void event(StringBuilder events, String data) {
        events.append("data: ").append(data).append("\n\n");
    }

    private static void flush(OutputStream out, StringBuilder events) throws IOException {
        if (events.length() > 0) {
            out.write(events.toString().getBytes(StandardCharsets.UTF_8));
            events.setLength(0);
        }
        out.flush();
    }
}
