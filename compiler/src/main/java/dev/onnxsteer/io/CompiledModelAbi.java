package dev.onnxsteer.io;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The contract between a compiled model and whatever runs it: the names and shapes of the inputs
 * onnx-steer adds to a graph and the {@code onnx_steer.*} metadata keys it writes. The compiler
 * builds models to it; the runtime, server and Triton export read models by it, never by naming habits.
 *
 * <p>Inputs, all in the main graph and all with an initializer default so the file runs unchanged:
 * <ul>
 *   <li>{@code steer.SITE.vector} float32 {@code [steer_batch, hidden]} and {@code steer.SITE.coefficient}
 *       float32 scalar ({@code --mode input});</li>
 *   <li>{@code steer_bank} float32 {@code [steer_bank_size, hidden]} ({@code steer_bank.SITE} per site when
 *       several), {@code steer_index} int64 {@code [steer_batch]}, {@code steer_scale} float32
 *       {@code [steer_batch]} (a vector bank);</li>
 *   <li>{@code steer_prompt_length} int64 {@code [steer_batch]}, default -1 = not given (prompt/generated
 *       position masks).</li>
 * </ul>
 */
public final class CompiledModelAbi {
    /** Every input onnx-steer adds starts with this; {@link #overridableInputs} relies on it. */
    public static final String INPUT_PREFIX = "steer";
    public static final String BANK_INPUT = "steer_bank";
    public static final String INDEX_INPUT = "steer_index";
    public static final String SCALE_INPUT = "steer_scale";
    public static final String PROMPT_LENGTH_INPUT = "steer_prompt_length";
    /**
     * Conditional steering's decision, carried across decode steps as a cache slot: float32
     * {@code [batch, past]} in, {@code [batch, past + seq]} out, every entry of a row 1 (condition met) or 0.
     * A runtime feeds an empty {@code [batch, 0]} tensor to the first run and the present back as the past,
     * like the KV cache; full recompute feeds it empty every time and the graph decides again from the prompt.
     */
    public static final String CONDITION_PAST = "steer_condition_past";
    public static final String CONDITION_PRESENT = "steer_condition_present";
    /** The symbolic past-length dimension of {@value #CONDITION_PAST}. */
    public static final String CONDITION_PAST_DIM = "steer_condition_past_length";
    /** The symbolic first dimension of every per-row steering input: one entry per row of the batch. */
    public static final String BATCH_DIM = "steer_batch";
    public static final String BANK_SIZE_DIM = "steer_bank_size";
    private static final String SITE_INPUT_PREFIX = "steer.";
    private static final String VECTOR_SUFFIX = ".vector";
    private static final String COEFFICIENT_SUFFIX = ".coefficient";

    /** The prefix of every metadata key onnx-steer writes. */
    public static final String METADATA_PREFIX = "onnx_steer.";
    /** JSON list of every operation applied, oldest first (see {@code passes.Provenance}). */
    public static final String OPERATIONS = METADATA_PREFIX + "operations";
    /** Comma-separated inputs with defaults that a runtime may override per run. */
    public static final String RUNTIME_INPUTS = METADATA_PREFIX + "runtime_inputs";
    public static final String VERSION = METADATA_PREFIX + "version";
    public static final String OPS = METADATA_PREFIX + "ops";
    public static final String SITES = METADATA_PREFIX + "sites";
    public static final String LAYERS = METADATA_PREFIX + "layers";
    public static final String COEFFICIENTS = METADATA_PREFIX + "coefficients";
    public static final String POSITIONS = METADATA_PREFIX + "positions";
    public static final String VECTOR_SHA256 = METADATA_PREFIX + "vector_sha256";
    public static final String SOURCE_MODEL_SHA256 = METADATA_PREFIX + "source_model_sha256";
    /** JSON description of a compiled condition (vector hash, layers, threshold, comparator, aggregate). */
    public static final String CONDITION = METADATA_PREFIX + "condition";
    /** Written by {@code import}: the GGUF file a model was made from, its sha256, and the weight format. */
    public static final String IMPORTED_FROM = METADATA_PREFIX + "imported_from";
    public static final String IMPORTED_SHA256 = METADATA_PREFIX + "imported_sha256";
    public static final String IMPORTED_WEIGHTS = METADATA_PREFIX + "imported_weights";

    /** What an input of a compiled model carries. */
    public enum InputRole { VECTOR, COEFFICIENT, BANK, BANK_INDEX, BANK_SCALE, PROMPT_LENGTH }

    private CompiledModelAbi() {}

    public static String vectorInput(String site) {
        return SITE_INPUT_PREFIX + site + VECTOR_SUFFIX;
    }

    public static String coefficientInput(String site) {
        return SITE_INPUT_PREFIX + site + COEFFICIENT_SUFFIX;
    }

    /** The bank of {@code site}: {@value #BANK_INPUT} alone, or {@code steer_bank.SITE} when several sites have one. */
    public static String bankInput(String site, boolean severalSites) {
        return severalSites ? BANK_INPUT + "." + site : BANK_INPUT;
    }

    /** The role of an input named {@code name}, empty for an input onnx-steer did not add. */
    public static Optional<InputRole> roleOf(String name) {
        if (name.startsWith(SITE_INPUT_PREFIX) && name.endsWith(VECTOR_SUFFIX)) {
            return Optional.of(InputRole.VECTOR);
        }
        if (name.startsWith(SITE_INPUT_PREFIX) && name.endsWith(COEFFICIENT_SUFFIX)) {
            return Optional.of(InputRole.COEFFICIENT);
        }
        if (name.equals(BANK_INPUT) || name.startsWith(BANK_INPUT + ".")) {
            return Optional.of(InputRole.BANK);
        }
        return switch (name) {
            case INDEX_INPUT -> Optional.of(InputRole.BANK_INDEX);
            case SCALE_INPUT -> Optional.of(InputRole.BANK_SCALE);
            case PROMPT_LENGTH_INPUT -> Optional.of(InputRole.PROMPT_LENGTH);
            default -> Optional.empty();
        };
    }

    /** {@code [steer_batch, dims...]} of {@code type}: the declared type of a per-row steering input. */
    public static ValueType.Tensor perRow(DataType type, Dim... rest) {
        Dim[] dims = new Dim[rest.length + 1];
        dims[0] = Dim.param(BATCH_DIM);
        System.arraycopy(rest, 0, dims, 1, rest.length);
        return ValueType.Tensor.of(type, dims);
    }

    /** The declared type of {@code steer.SITE.vector}: float32 {@code [steer_batch, hidden]}. */
    public static ValueType.Tensor vectorType(long hidden) {
        return perRow(DataType.FLOAT, Dim.of(hidden));
    }

    /** The declared type of a bank: float32 {@code [steer_bank_size, hidden]}. */
    public static ValueType.Tensor bankType(long hidden) {
        return ValueType.Tensor.of(DataType.FLOAT, Dim.param(BANK_SIZE_DIM), Dim.of(hidden));
    }

    /** Whether {@code type} is batch-first along the steering batch (one entry per row). */
    public static boolean isPerRow(ValueType.Tensor type) {
        return type != null && type.rank() >= 1 && type.shape().get(0).equals(Dim.param(BATCH_DIM));
    }

    /** The main-graph inputs with defaults that onnx-steer added ({@code steer*}): what a runtime may override. */
    public static List<String> overridableInputs(Model model) {
        List<String> names = new ArrayList<>();
        for (Value input : model.graph().inputs()) {
            if (input.isInitializer() && input.name().startsWith(INPUT_PREFIX)) {
                names.add(input.name());
            }
        }
        return names;
    }

    /** Whether the model's metadata says it has inputs a runtime may override ({@value #RUNTIME_INPUTS}). */
    public static boolean hasRuntimeInputs(Model model) {
        return model.metadata().containsKey(RUNTIME_INPUTS);
    }
}
