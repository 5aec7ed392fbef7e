package dev.onnxsteer.cli;

import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.server.TritonExport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer export-triton MODEL -o REPO}: a Triton Inference Server model repository entry. */
@Command(name = "export-triton", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"Write REPO/NAME/config.pbtxt and REPO/NAME/1/model.onnx (+ external data) for Triton's"
                + " onnxruntime backend, with dynamic batching on and the steering inputs of a model compiled with"
                + " --mode input declared per row (vector [hidden], coefficient [1])."})
final class ExportTritonCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Mixin
    ForceOption force;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file.")
    Path model;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "REPO", description = "Model repository directory.")
    Path repo;

    @Option(names = "--name", paramLabel = "NAME", description = "Model name in the repository (default: the model directory's name).")
    String name;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "8", description = "Triton max_batch_size (default ${DEFAULT-VALUE}).")
    int maxBatch;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ModelFiles files = ModelFiles.locate(model, null);
        String modelName = name != null ? name : files.directory().getFileName().toString();
        TritonExport.Result result = TritonExport.export(files, repo, modelName, maxBatch, force.force);
        if (result.steeringInputs().isEmpty()) {
            err.println("note: " + model + " has no steering inputs; compile it with --mode input to steer per request on Triton");
        }
        out.println(result.directory());
        out.println("  inputs:   " + result.config().inputNames());
        out.println("  steering: " + result.steeringInputs());
        if (!result.bakedInputs().isEmpty()) {
            out.println("  constant: " + result.bakedInputs());
        }
        out.flush();
        err.flush();
        return Main.OK;
    }
}
