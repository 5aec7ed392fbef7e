package dev.onnxsteer.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code onnx-steer serve ...} run through {@link Main#run} on another thread until {@link #stop}. */
final class RunningServe {
    private static final Pattern SERVING = Pattern.compile("serving \\S+ on \\S+ at (http://[^ ]+) with vectors");
    final StringWriter err = new StringWriter();
    final CompletableFuture<Integer> code;
    final URI base;

    /** Starts serve with {@code args} (after "serve") and waits for its start-up line. */
    RunningServe(String... args) throws InterruptedException {
        String[] all = new String[args.length + 1];
        all[0] = "serve";
        System.arraycopy(args, 0, all, 1, args.length);
        code = CompletableFuture.supplyAsync(() -> Main.run(new PrintWriter(new StringWriter(), true),
                new PrintWriter(err, true), all));
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Matcher m;
        while (!(m = SERVING.matcher(err.toString())).find()) {
            assertTrue(System.nanoTime() < until && !code.isDone(), "no start line: " + err);
            Thread.sleep(20);
        }
        base = URI.create(m.group(1));
    }

    /** Signals the stop and returns the exit code. */
    int stop() throws Exception {
        ServeCommand.stopSignal.countDown();
        return code.get(60, TimeUnit.SECONDS);
    }
}
