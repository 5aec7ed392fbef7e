package dev.onnxsteer.server;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The text pieces of one streamed job between the batch thread, which adds them as it decodes,
 * and the request's thread, which writes them out. Adding a piece wakes the reader only when it
 * asked for that (it is waiting for its first piece, or has been idle for a flush interval): the
 * pieces of the steps in between wait for the reader's next write, so a stream costs a thread
 * wake-up and a socket write per flush interval, not per token.
 */
final class StreamedPieces {
    private final List<String> pending = new ArrayList<>();
    private boolean closed;
    private boolean readerWantsNext;

    /** A piece of text from the batch thread. */
    synchronized void add(String piece) {
        pending.add(piece);
        if (readerWantsNext) {
            notifyAll();
        }
    }

    /** No more pieces will come (the job is done or failed); wakes the reader. */
    synchronized void close() {
        closed = true;
        notifyAll();
    }

    /**
     * Waits until {@code deadlineNanos} ({@link System#nanoTime}), or until the pieces are closed, or,
     * when {@code wakeOnPiece}, until a piece is pending; then moves every pending piece to {@code into}.
     *
     * @return true when closed: {@code into} then has the last pieces
     */
    synchronized boolean take(long deadlineNanos, boolean wakeOnPiece, List<String> into) throws InterruptedException {
        readerWantsNext = wakeOnPiece;
        try {
            while (!closed && !(wakeOnPiece && !pending.isEmpty())) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        } finally {
            readerWantsNext = false;
        }
        into.addAll(pending);
        pending.clear();
        return closed;
    }
}
