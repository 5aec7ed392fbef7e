package dev.onnxsteer.steer;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.session.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A compiled model with a per-row vector bank ({@code compile --mode input --bank}), opened so each
 * row of a batch can pick its own bank vector and strength. The bank inputs ({@code steer_bank} or,
 * with several sites, {@code steer_bank.SITE}, each {@code [K, hidden]}), {@code steer_index [batch]}
 * int64 and {@code steer_scale [batch]} float keep their compiled defaults unless a run overrides them:
 * {@link #rows(List)} builds the overrides for one batch, checking every index against K in Java (an
 * index out of range is an {@link IllegalArgumentException} naming the valid range, never a native
 * error).
 *
 * <pre>{@code
 * try (SteeredSession steered = SteeredSession.open(dir.resolve("model.onnx"), SessionConfig.cpu());
 *      SteeredSession.Rows rows = steered.rows(List.of(Choice.of(0, 4f), Choice.UNSTEERED, Choice.of(2, -3f)))) {
 *     Generator generator = Generator.create(steered.session(), tokenizer, config);
 *     List<Generation> out = generator.generate(prompts, generation, rows, TokenListener.NONE);
 * }
 * }</pre>
 *
 * Thread safety: a SteeredSession may serve concurrent runs (ONNX Runtime sessions do); each run
 * needs its own {@link Rows}.
 */
public final class SteeredSession implements AutoCloseable {
    /** One row's choice: bank vector {@code index}, scaled by {@code scale} (0 leaves the row unsteered). */
    public record Choice(long index, float scale) {
        public static final Choice UNSTEERED = new Choice(0, 0f);

        public static Choice of(long index, float scale) {
            return new Choice(index, scale);
        }
    }

    private final ModelSession session;
    private final boolean owned;
    private final List<String> bankInputs;
    private final long bankSize;
    private final long hiddenSize;

    private SteeredSession(ModelSession session, boolean owned) {
        this.session = session;
        this.owned = owned;
        Map<String, OnnxTensor> defaults = session.inputDefaults();
        List<String> banks = new ArrayList<>();
        for (String name : defaults.keySet()) {
            if (name.equals(CompiledModelAbi.BANK_INPUT) || name.startsWith(CompiledModelAbi.BANK_INPUT + ".")) {
                banks.add(name);
            }
        }
        if (banks.isEmpty() || !defaults.containsKey(CompiledModelAbi.INDEX_INPUT) || !defaults.containsKey(CompiledModelAbi.SCALE_INPUT)) {
            throw new BadModelException(session.source() + " has no vector bank (inputs " + CompiledModelAbi.BANK_INPUT + ", "
                    + CompiledModelAbi.INDEX_INPUT + ", " + CompiledModelAbi.SCALE_INPUT + " with defaults); compile it with "
                    + "--mode input --bank; its overridable inputs are " + defaults.keySet());
        }
        long[] shape = defaults.get(banks.get(0)).getInfo().getShape();
        this.bankInputs = List.copyOf(banks);
        this.bankSize = shape[0];
        this.hiddenSize = shape[1];
    }

    /** Opens a compiled model file with a bank; the session is owned and closed with this object. */
    public static SteeredSession open(Path model, SessionConfig config) {
        ModelSession session = SessionFactory.open(model, config);
        try {
            return new SteeredSession(session, true);
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /** Wraps an open session (opened by {@link SessionFactory}); it stays owned by the caller. */
    public static SteeredSession of(ModelSession session) {
        return new SteeredSession(session, false);
    }

    public ModelSession session() {
        return session;
    }

    /** K: how many vectors the bank holds (indices 0..K-1). */
    public long bankSize() {
        return bankSize;
    }

    public long hiddenSize() {
        return hiddenSize;
    }

    /** The bank inputs: {@code steer_bank}, or {@code steer_bank.SITE} per steered site. */
    public List<String> bankInputs() {
        return bankInputs;
    }

    /**
     * The inputs for one batch whose row b uses {@code choices.get(b)}; close them after the run (or
     * the generation) that uses them.
     *
     * @throws IllegalArgumentException when an index is outside 0..K-1 or a scale is not finite
     */
    public Rows rows(List<Choice> choices) {
        Objects.requireNonNull(choices, "choices");
        if (choices.isEmpty()) {
            throw new IllegalArgumentException("no row choices given; expected one (index, scale) per prompt");
        }
        long[] index = new long[choices.size()];
        float[] scale = new float[choices.size()];
        for (int b = 0; b < index.length; b++) {
            Choice c = choices.get(b);
            if (c.index() < 0 || c.index() >= bankSize) {
                throw new IllegalArgumentException("row " + b + " asks for bank vector " + c.index() + " but the bank of "
                        + session.source() + " has " + bankSize + " vectors (valid indices 0-" + (bankSize - 1) + ")");
            }
            if (!Float.isFinite(c.scale())) {
                throw new IllegalArgumentException("row " + b + " has scale " + c.scale() + "; expected a finite number");
            }
            index[b] = c.index();
            scale[b] = c.scale();
        }
        OnnxTensor indexTensor = Tensors.ints(OnnxJavaType.INT64, index, index.length);
        try {
            return new Rows(indexTensor, Tensors.floats(scale, scale.length), index.length);
        } catch (RuntimeException e) {
            indexTensor.close();
            throw e;
        }
    }

    /**
     * Batched generation with one choice per prompt: {@code choices.get(i)} steers {@code prompts.get(i)}.
     * Rows of the same batch give the same tokens as separate runs with the same choices.
     */
    public List<Generation> generateIds(Generator generator, List<long[]> prompts, List<Choice> choices,
            GenerationConfig generation, TokenListener listener) {
        requireSameSize(prompts.size(), choices.size());
        try (Rows rows = rows(choices)) {
            return generator.generateIds(prompts, generation, rows, listener);
        }
    }

    /** Like {@link #generateIds} from text prompts (the generator needs a tokenizer). */
    public List<Generation> generate(Generator generator, List<String> prompts, List<Choice> choices,
            GenerationConfig generation, TokenListener listener) {
        requireSameSize(prompts.size(), choices.size());
        try (Rows rows = rows(choices)) {
            return generator.generate(prompts, generation, rows, listener);
        }
    }

    private static void requireSameSize(int prompts, int choices) {
        if (prompts != choices) {
            throw new IllegalArgumentException(prompts + " prompts but " + choices + " row choices; expected one per prompt");
        }
    }

    @Override
    public void close() {
        if (owned) {
            session.close();
        }
    }

    /**
     * The {@code steer_index} and {@code steer_scale} tensors of one batch, as {@link ExtraInputs} for
     * every run of a generation. Owns its tensors; close it after the generation.
     */
    public static final class Rows implements ExtraInputs, AutoCloseable {
        private final OnnxTensor index;
        private final OnnxTensor scale;
        private final int batch;
        private final Map<String, OnnxTensor> tensors;

        private Rows(OnnxTensor index, OnnxTensor scale, int batch) {
            this.index = index;
            this.scale = scale;
            this.batch = batch;
            Map<String, OnnxTensor> map = new LinkedHashMap<>();
            map.put(CompiledModelAbi.INDEX_INPUT, index);
            map.put(CompiledModelAbi.SCALE_INPUT, scale);
            this.tensors = Map.copyOf(map);
        }

        /** The input tensors by name, for callers that run the session themselves. */
        public Map<String, OnnxTensor> tensors() {
            return tensors;
        }

        @Override
        public Map<String, OnnxTensor> forStep(Step step) {
            if (step.batchSize() != batch) {
                throw new IllegalArgumentException("the row choices are for a batch of " + batch + " but this run has "
                        + step.batchSize() + " rows");
            }
            return tensors;
        }

        @Override
        public void close() {
            index.close();
            scale.close();
        }
    }
}
