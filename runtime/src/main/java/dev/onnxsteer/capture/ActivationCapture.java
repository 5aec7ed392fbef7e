package dev.onnxsteer.capture;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.generate.TokenGrid;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.SiteCut;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a model's activations at chosen sites. The model is read into memory, each site tensor
 * ({@code kind.L} for every chosen layer) is made an extra graph output with {@link SiteCut#exposeAsOutput},
 * and that copy is opened in ONNX Runtime; the model's files are only read. Each {@link #run} is one
 * forward pass over a padded batch ({@link BatchInputs}) that fetches only the site outputs and keeps
 * only the rows at the requested positions, so memory is bounded by one batch.
 *
 * <p>Not thread-safe: one run at a time. Closing it closes the session.
 */
public final class ActivationCapture implements AutoCloseable {
    private static final Set<OnnxJavaType> FLOAT_TYPES = Set.of(OnnxJavaType.FLOAT, OnnxJavaType.FLOAT16,
            OnnxJavaType.BFLOAT16);
    private final ModelSession session;
    private final ModelLayout layout;
    private final SiteKind kind;
    private final List<Integer> layers;
    private final List<String> outputs;
    private final int hiddenSize;
    private final int layerCount;
    private final OptionalInt maxPositions;
    private final long padId;
    private final Padding padding;
    private final String source;

    private ActivationCapture(ModelSession session, ModelLayout layout, SiteKind kind, List<Integer> layers,
            List<String> outputs, int hiddenSize, int layerCount, OptionalInt maxPositions, long padId, Padding padding,
            String source) {
        this.session = session;
        this.layout = layout;
        this.kind = kind;
        this.layers = List.copyOf(layers);
        this.outputs = List.copyOf(outputs);
        this.hiddenSize = hiddenSize;
        this.layerCount = layerCount;
        this.maxPositions = maxPositions;
        this.padId = padId;
        this.padding = padding;
        this.source = source;
    }

    /**
     * Opens a capture of {@code kind} at {@code layers} of a model directory or file.
     *
     * @throws dev.onnxsteer.SiteNotFoundException for a layer the model does not have or a site not found
     * @throws BadModelException when a site only exists inside subgraphs (merged decoders)
     */
    public static ActivationCapture open(ModelFiles files, SiteKind kind, Collection<Integer> layers, Padding padding,
            SessionConfig config) {
        Model model = ModelReader.read(files.onnx());
        ModelConfig modelConfig = ModelConfig.load(files.directory());
        return open(model, files.onnx().toString(), modelConfig, kind, layers, padding, config);
    }

    /**
     * Opens a capture of a model already in memory; {@code model} is changed (its sites become outputs),
     * so pass a copy the caller does not need otherwise.
     */
    public static ActivationCapture open(Model model, String label, ModelConfig modelConfig, SiteKind kind,
            Collection<Integer> layers, Padding padding, SessionConfig config) {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(padding, "padding");
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("no layers to capture");
        }
        SiteMap sites = SiteFinder.find(model);
        List<Integer> sorted = new ArrayList<>(new TreeSet<>(layers));
        List<String> outputs = new ArrayList<>();
        for (int layer : sorted) {
            List<Site> found = sites.find(kind, layer);
            Site main = found.stream().filter(s -> s.graph() == model.graph()).findFirst().orElseThrow(() ->
                    new BadModelException("site " + kind.label() + "." + layer + " of " + label
                            + " is only inside subgraphs (" + found.get(0).graph().name() + "); activation capture needs "
                            + "it in the main graph: use the decoder without If branches (e.g. decoder_model.onnx)"));
            outputs.add(SiteCut.exposeAsOutput(model, main.value()));
        }
        ModelSession session = SessionFactory.open(model, label + " (capturing " + kind.label() + ")", config);
        try {
            ModelLayout layout = ModelLayout.detect(session, modelConfig.decoder());
            if (padding == Padding.LEFT && layout.alignment() == TokenGrid.Alignment.RIGHT) {
                throw new IllegalArgumentException(label + " attends with GroupQueryAttention, which reads every prompt "
                        + "from its first column: left padding would be read as tokens; use right padding");
            }
            long pad = modelConfig.padTokenId().orElse(
                    modelConfig.eosTokenIds().isEmpty() ? 0 : modelConfig.eosTokenIds().get(0));
            return new ActivationCapture(session, layout, kind, sorted, outputs, Math.toIntExact(sites.hiddenSize()),
                    sites.layerCount(), modelConfig.maxPositions(), pad, padding, label);
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /** The captured layers, ascending; {@link PromptActivations#at} is indexed by position in this list. */
    public List<Integer> layers() {
        return layers;
    }

    public SiteKind kind() {
        return kind;
    }

    public int hiddenSize() {
        return hiddenSize;
    }

    /** How many layers the model has. */
    public int layerCount() {
        return layerCount;
    }

    /** The model's context length from its config, when it says. */
    public OptionalInt maxPositions() {
        return maxPositions;
    }

    public ModelLayout layout() {
        return layout;
    }

    public ModelSession session() {
        return session;
    }

    public String source() {
        return source;
    }

    /**
     * Runs one batch of prompts (token ids, each non-empty) and returns each prompt's activations at
     * {@code position}, in prompt order. Padded slots are never read.
     *
     * @throws IllegalArgumentException when a prompt is empty or longer than the model's context
     */
    public List<PromptActivations> run(List<long[]> prompts, Position position) {
        for (int r = 0; r < prompts.size(); r++) {
            int length = prompts.get(r).length;
            if (maxPositions.isPresent() && length > maxPositions.getAsInt()) {
                throw new IllegalArgumentException("a prompt has " + length + " tokens but the context of " + source
                        + " is " + maxPositions.getAsInt() + " tokens");
            }
        }
        try (BatchInputs inputs = BatchInputs.create(layout, prompts, padding, padId);
                OrtSession.Result result = session.ort().run(session.withInputDefaults(inputs.feeds()),
                        new LinkedHashSet<>(outputs))) {
            int batch = prompts.size();
            List<List<float[][]>> perRow = new ArrayList<>();
            for (int r = 0; r < batch; r++) {
                perRow.add(new ArrayList<>());
            }
            for (String name : outputs) {
                float[] values = floats(result, name, batch, inputs.width());
                for (int r = 0; r < batch; r++) {
                    perRow.get(r).add(select(values, inputs, r, position));
                }
            }
            List<PromptActivations> out = new ArrayList<>(batch);
            for (int r = 0; r < batch; r++) {
                out.add(new PromptActivations(inputs.length(r), perRow.get(r)));
            }
            return out;
        } catch (OrtException e) {
            throw new InferenceException("running " + source + " failed: " + e.getMessage(), e);
        }
    }

    /** The site output as a flat {@code [batch, width, hidden]} array, checking its shape. */
    private float[] floats(OrtSession.Result result, String name, int batch, int width) {
        OnnxValue value = result.get(name).orElseThrow(() ->
                new InferenceException(source + " returned no output " + name));
        if (!(value instanceof OnnxTensor tensor) || !FLOAT_TYPES.contains(tensor.getInfo().type)) {
            throw new BadModelException("site tensor " + name + " of " + source + " is " + value.getInfo()
                    + "; activation capture reads float32, float16 and bfloat16 tensors");
        }
        long[] shape = tensor.getInfo().getShape();
        long expected = (long) batch * width * hiddenSize;
        boolean ok = (shape.length == 3 && shape[0] == batch && shape[1] == width && shape[2] == hiddenSize)
                || (shape.length == 2 && shape[0] == (long) batch * width && shape[1] == hiddenSize);
        if (!ok) {
            throw new BadModelException("site tensor " + name + " of " + source + " has shape " + Arrays.toString(shape)
                    + " but [" + batch + ", " + width + ", " + hiddenSize + "] (" + expected + " values) was expected");
        }
        // widens float16 and bfloat16 exactly
        FloatBuffer buffer = tensor.getFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    private float[][] select(float[] values, BatchInputs inputs, int row, Position position) {
        int first = row * inputs.width() + inputs.offset(row);
        int length = inputs.length(row);
        return switch (position) {
            case LAST -> new float[][] {Arrays.copyOfRange(values, (first + length - 1) * hiddenSize,
                    (first + length) * hiddenSize)};
            case MEAN -> {
                double[] sum = new double[hiddenSize];
                for (int t = 0; t < length; t++) {
                    int base = (first + t) * hiddenSize;
                    for (int i = 0; i < hiddenSize; i++) {
                        sum[i] += values[base + i];
                    }
                }
                float[] mean = new float[hiddenSize];
                for (int i = 0; i < hiddenSize; i++) {
                    mean[i] = (float) (sum[i] / length);
                }
                yield new float[][] {mean};
            }
            case ALL -> {
                float[][] rows = new float[length][];
                for (int t = 0; t < length; t++) {
                    rows[t] = Arrays.copyOfRange(values, (first + t) * hiddenSize, (first + t + 1) * hiddenSize);
                }
                yield rows;
            }
        };
    }

    @Override
    public void close() {
        session.close();
    }

    @Override
    public String toString() {
        return "ActivationCapture[" + source + ", " + kind.label() + " layers " + layers + "]";
    }
}
