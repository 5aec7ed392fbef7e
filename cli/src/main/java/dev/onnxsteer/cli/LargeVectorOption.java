package dev.onnxsteer.cli;

import picocli.CommandLine.Option;

/** {@code --allow-large-vectors}: one option for every command that reads vector files (compile, generate, serve). */
final class LargeVectorOption {
    @Option(names = "--allow-large-vectors",
            description = "Use vectors larger than a file can plausibly hold (L2 norm above 1000 x the recorded "
                    + "activation norm, or above 1e5) instead of refusing the file as corrupted (exit 3).")
    boolean allowLargeVectors;
}
