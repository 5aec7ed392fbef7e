package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.ModelSummary;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer inspect MODEL [--json]}: header, I/O, weights, operators, layers and steering sites. */
@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "Show a model's inputs, outputs, weights, operators, layers and steerable sites.")
final class InspectCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file.")
    Path model;

    @Option(names = "--json", description = "Print the summary as JSON.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        Path onnx = ModelFiles.locate(model, null).onnx();
        Model read = ModelReader.read(onnx);
        ModelSummary summary = ModelSummary.of(read, onnx.toString());
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().writeValueAsString(summary.toJsonTree())); // one object per line, like every --json
        } else {
            out.print(InspectTable.render(summary));
        }
        out.flush();
        return Main.OK;
    }
}
