package dev.onnxsteer.generate;

import dev.onnxsteer.io.CompiledModelAbi;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.Tensors;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the named input tensors of one model run from a {@link TokenGrid.Window} and a {@link KvCache}:
 * token ids, attention mask and position ids in the element types the model declares, a merged decoder's
 * {@code use_cache_branch}, the cache, the caller's extra inputs, a position-masked model's prompt length,
 * and the defaults of lifted steering inputs nobody else supplied. Generation, activation capture and the
 * parity forward pass all feed a model through here, so the three agree on what a model is fed.
 *
 * <p>One instance serves every run of a generate call; buffers reused from run to run (IO binding,
 * preallocated ids and mask) would live here.
 */
public final class StepFeeds {
    private final ModelLayout layout;
    private final Map<String, OnnxTensor> inputDefaults;
    private final boolean feedsPromptLength;

    /**
     * @param inputDefaults tensors fed for inputs nobody else supplies (not owned here)
     * @param feedsPromptLength whether to feed {@link Positions#PROMPT_LENGTH_INPUT} from the grid's prompt lengths
     *                          when the model has that input and the extras do not supply it
     */
    public StepFeeds(ModelLayout layout, Map<String, OnnxTensor> inputDefaults, boolean feedsPromptLength) {
        this.layout = layout;
        this.inputDefaults = Map.copyOf(inputDefaults);
        // position-masked models compare positions with each row's prompt length; feeding it keeps
        // prompt/generated masks identical with the KV cache and with full recompute
        this.feedsPromptLength = feedsPromptLength && layout.otherInputs().contains(CompiledModelAbi.PROMPT_LENGTH_INPUT);
    }

    /** Only what the layout names: no defaults, no prompt length (a forward pass whose caller adds the rest). */
    public static StepFeeds forLayout(ModelLayout layout) {
        return new StepFeeds(layout, Map.of(), false);
    }

    /**
     * The inputs of one run over {@code window} of {@code grid}, with {@code cache}'s past tensors.
     *
     * @param extras tensors to add (not owned); a name generation feeds itself is refused
     * @throws IllegalArgumentException when an extra input would replace one fed here
     */
    public StepInputs build(TokenGrid grid, TokenGrid.Window window, KvCache cache, Map<String, OnnxTensor> extras) {
        int batch = grid.batchSize();
        StepInputs inputs = new StepInputs();
        try {
            int n = window.inputLength();
            inputs.own(layout.inputIds(), Tensors.ints(layout.idType(), window.ids(), batch, n));
            if (layout.attentionMask().isPresent()) {
                inputs.own(layout.attentionMask().get(), Tensors.ints(layout.maskType(), window.mask(), batch, grid.width()));
            }
            if (layout.positionIds().isPresent()) {
                inputs.own(layout.positionIds().get(), Tensors.ints(layout.positionType(), window.positions(), batch, n));
            }
            if (layout.useCacheBranch().isPresent()) {
                inputs.own(layout.useCacheBranch().get(), bool(cache.holdsPresents()));
            }
            List<ModelLayout.CacheSlot> slots = layout.cache();
            for (int i = 0; i < slots.size(); i++) {
                inputs.feeds.put(slots.get(i).past(), cache.past(i));
            }
            for (Map.Entry<String, OnnxTensor> entry : extras.entrySet()) {
                if (inputs.feeds.containsKey(entry.getKey())) {
                    throw new IllegalArgumentException("extra input " + entry.getKey()
                            + " is fed by generation itself; extra inputs may not replace " + inputs.feeds.keySet());
                }
                inputs.feeds.put(entry.getKey(), entry.getValue());
            }
            if (feedsPromptLength && !inputs.feeds.containsKey(CompiledModelAbi.PROMPT_LENGTH_INPUT)) {
                inputs.own(CompiledModelAbi.PROMPT_LENGTH_INPUT, Tensors.ints(OnnxJavaType.INT64, grid.promptLengths(), batch));
            }
            inputDefaults.forEach(inputs.feeds::putIfAbsent);
            return inputs;
        } catch (RuntimeException e) {
            inputs.close();
            throw e;
        }
    }

    /** The model's inputs that {@code inputs} leaves unfed, in the model's order. */
    public List<String> missing(StepInputs inputs) {
        List<String> missing = new ArrayList<>();
        for (String name : layout.otherInputs()) {
            if (!inputs.feeds.containsKey(name)) {
                missing.add(name);
            }
        }
        return missing;
    }

    private static OnnxTensor bool(boolean value) {
        try {
            return OnnxTensor.createTensor(Ort.env(), new boolean[] {value});
        } catch (OrtException e) {
            throw new InferenceException("cannot create an input tensor: " + e.getMessage(), e);
        }
    }

    /** The tensors of one run by input name; closing it frees those it created (not the cache, extras or defaults). */
    public static final class StepInputs implements AutoCloseable {
        private final Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        private final List<OnnxTensor> owned = new ArrayList<>();

        private void own(String name, OnnxTensor tensor) {
            owned.add(tensor);
            feeds.put(name, tensor);
        }

        public Map<String, OnnxTensor> feeds() {
            return Collections.unmodifiableMap(feeds);
        }

        @Override
        public void close() {
            owned.forEach(OnnxTensor::close);
            owned.clear();
        }
    }
}
