package dev.onnxsteer.cli;

import dev.onnxsteer.io.OutputTarget;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Option;

/** {@code --force} for every command that writes an output; mixed in with {@code @Mixin}. The rules are in {@code AtomicFiles}. */
final class ForceOption {
    @Option(names = "--force",
            description = "Replace an existing output (atomically; never a directory that holds or lies inside an input).")
    boolean force;

    /** The output to check and write, protecting {@code inputs} (null entries are ignored). */
    OutputTarget target(Path output, Path... inputs) {
        return new OutputTarget(output, force, Arrays.asList(inputs));
    }
}
