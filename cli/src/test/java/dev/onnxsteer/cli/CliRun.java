package dev.onnxsteer.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One command line run through {@link Main#run}, with what it printed; what every CLI test asserts on. */
record CliRun(int code, String out, String err) {
    static CliRun run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new CliRun(code, out.toString(), err.toString());
    }
}
