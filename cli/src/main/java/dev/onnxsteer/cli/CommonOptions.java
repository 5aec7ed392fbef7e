package dev.onnxsteer.cli;

import picocli.CommandLine.Option;

/** Options every command takes; mixed in with {@code @Mixin}. */
final class CommonOptions {
    @Option(names = "--verbose", description = "Print stack traces and extra diagnostics on stderr.")
    boolean verbose;
}
