package dev.onnxsteer.parity;

import dev.onnxsteer.io.CompiledModelAbi;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.SteerPass;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.GraphOptimization;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.session.Tensors;
import dev.onnxsteer.sites.SiteFinder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the parity checks share: the original model, a temporary directory for the models they compile
 * and cut (removed by {@link #close}), sessions opened with the run's device settings, the logits of a
 * model over the prompts, and the tolerances of the model's compute type.
 */
final class ParityStaging implements AutoCloseable {
    private final ModelFiles original;
    private final SessionConfig sessions;
    private final DataType computeType;
    private final int int8ActivationNodes;
    private final Path work;

    /** @param int8ActivationNodes the original's MatMulNBits with int8 activations ({@link Int8Activations#nodes}) */
    ParityStaging(ModelFiles original, SessionConfig sessions, DataType computeType, int int8ActivationNodes) {
        this.original = original;
        this.sessions = sessions;
        this.computeType = computeType;
        this.int8ActivationNodes = int8ActivationNodes;
        try {
            this.work = Files.createTempDirectory("onnx-steer-parity");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    ModelFiles original() {
        return original;
    }

    /** A fresh in-memory copy of the original model. */
    Model readOriginal() {
        return ModelReader.read(original.onnx());
    }

    /** Writes {@code model} as {@code name}/model.onnx under the work directory. */
    Path stage(String name, Model model) {
        Path out = work.resolve(name).resolve(ModelFiles.MODEL_FILE);
        ModelWriter.write(model, out);
        return out;
    }

    /** The original compiled with {@code steerings}, staged as {@code name}. */
    Path compile(String name, List<Steering> steerings, Mode mode, SteerOptions options) {
        Model model = readOriginal();
        new SteerPass(SiteFinder.find(model), steerings, mode, options).run(model);
        Provenance.record(model, List.of(), "parity");
        return stage(name, model);
    }

    /** The original's MatMulNBits nodes that quantise activations to int8; 0 when parity's float tolerances apply as they are. */
    int int8ActivationNodes() {
        return int8ActivationNodes;
    }

    /**
     * {@code model}'s logits over {@code prompts} (optimisations off) and, when the original has int8-activation
     * nodes, its float-activation twin's (see {@link Int8Activations}), staged as {@code name}.
     */
    Twinned twinnedLogits(String name, Path model, List<long[]> prompts) {
        List<float[]> shipped = logits(model, prompts, GraphOptimization.DISABLE_ALL);
        if (int8ActivationNodes == 0) {
            return Twinned.untwinned(shipped);
        }
        return new Twinned(shipped, logits(floatActivationTwin(name, model), prompts, GraphOptimization.DISABLE_ALL));
    }

    /** {@code model} with {@code accuracy_level} 0 on its int8-activation MatMulNBits, staged as {@code name}-float-activations. */
    Path floatActivationTwin(String name, Path model) {
        Model twin = ModelReader.read(model);
        Int8Activations.useFloatActivations(twin);
        return stage(name + "-float-activations", twin);
    }

    ModelSession open(Path model, GraphOptimization optimization) {
        return SessionFactory.open(model, sessions.withOptimization(optimization));
    }

    /**
     * Logits of every position of each prompt. A model with a prompt-length input
     * ({@link Positions#PROMPT_LENGTH_INPUT}) gets {@link #promptLength} of each prompt there.
     */
    List<float[]> logits(Path model, List<long[]> prompts, GraphOptimization optimization) {
        try (ModelSession session = open(model, optimization)) {
            return logits(session, prompts);
        }
    }

    static List<float[]> logits(ModelSession session, List<long[]> prompts) {
        return logits(session, prompts, prompts.stream().mapToLong(ParityStaging::promptLength).toArray());
    }

    /** Logits of every position of each sequence, a position-masked model told the prompt length given for it. */
    static List<float[]> logits(ModelSession session, List<long[]> sequences, long[] promptLengths) {
        boolean feedLength = session.ort().getInputNames().contains(CompiledModelAbi.PROMPT_LENGTH_INPUT);
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < sequences.size(); i++) {
            long[] sequence = sequences.get(i);
            if (!feedLength) {
                out.add(Forward.run(session, sequence, Map.of(), List.of("logits")).get("logits").values());
                continue;
            }
            try (OnnxTensor length = Tensors.ints(OnnxJavaType.INT64, new long[] {promptLengths[i]}, 1)) {
                out.add(Forward.run(session, sequence, Map.of(CompiledModelAbi.PROMPT_LENGTH_INPUT, length), List.of("logits"))
                        .get("logits").values());
            }
        }
        return out;
    }

    /** The prompt length fed to position-masked models in single forward passes: the first half of the tokens. */
    static long promptLength(long[] prompt) {
        return (prompt.length + 1) / 2;
    }

    double maxDiff(Path a, Path b, List<long[]> prompts, GraphOptimization optimization) {
        return ReferenceOps.maxDiff(logits(a, prompts, optimization), logits(b, prompts, optimization));
    }

    /** {@code float32Tolerance} on a float32 model; on a 16-bit one, 8 units in the last place of its type. */
    double relative(double float32Tolerance) {
        return switch (computeType) {
            case FLOAT16 -> ParityHarness.FLOAT16_RELATIVE_TOLERANCE;
            case BFLOAT16 -> ParityHarness.BFLOAT16_RELATIVE_TOLERANCE;
            default -> float32Tolerance;
        };
    }

    ModelConfig config() {
        return original.config() != null ? ModelConfig.load(original.directory()) : ModelConfig.EMPTY;
    }

    @Override
    public void close() {
        AtomicFiles.deleteTree(work);
    }
}
