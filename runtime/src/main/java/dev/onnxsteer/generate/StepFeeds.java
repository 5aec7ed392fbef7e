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
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds the named input tensors of one model run from a {@link TokenGrid.Window} and a {@link KvCache}:
 * token ids, attention mask and position ids in the element types the model declares, a merged decoder's
 * {@code use_cache_branch}, the cache, the caller's extra inputs, a position-masked model's prompt length,
 * and the defaults of lifted steering inputs nobody else supplied. Generation, activation capture and the
 * parity forward pass all feed a model through here, so the three agree on what a model is fed.
 *
 * <p>One instance serves every generate call. A generate call keeps one {@link StepInputs} for all its runs and
 * {@link #refill refills} it: ids, positions and mask are rewritten in direct buffers ONNX Runtime reads in place,
 * the feed map is updated rather than rebuilt, and the tensors that do not change from step to step (a decode
 * step's {@code [batch, 1]} ids and positions, {@code use_cache_branch}, the prompt length) are created once.
 */
public final class StepFeeds {
    private final ModelLayout layout;
    private final Map<String, OnnxTensor> inputDefaults;
    private final boolean feedsPromptLength;
    /** The inputs fed from the grid and the cache, in feeding order; an extra input may not replace one. */
    private final Set<String> fedHere;

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
        Set<String> fed = new LinkedHashSet<>();
        fed.add(layout.inputIds());
        layout.attentionMask().ifPresent(fed::add);
        layout.positionIds().ifPresent(fed::add);
        layout.useCacheBranch().ifPresent(fed::add);
        layout.cache().forEach(slot -> fed.add(slot.past()));
        this.fedHere = Collections.unmodifiableSet(fed);
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
        StepInputs inputs = new StepInputs();
        try {
            refill(inputs, grid, window, cache, extras);
            return inputs;
        } catch (RuntimeException e) {
            inputs.close();
            throw e;
        }
    }

    /**
     * Rewrites {@code inputs} in place for the next run of the same generate call (same grid): what
     * {@link #build} would return, reusing its buffers and tensors.
     *
     * @throws IllegalArgumentException when an extra input would replace one fed here
     */
    void refill(StepInputs inputs, TokenGrid grid, TokenGrid.Window window, KvCache cache, Map<String, OnnxTensor> extras) {
        int batch = grid.batchSize();
        int n = window.inputLength();
        for (Map.Entry<String, OnnxTensor> entry : extras.entrySet()) {
            if (fedHere.contains(entry.getKey())) {
                throw new IllegalArgumentException("extra input " + entry.getKey()
                        + " is fed by generation itself; extra inputs may not replace " + fedHere);
            }
        }
        Map<String, OnnxTensor> feeds = inputs.feeds;
        IntFeed ids = inputs.feed(0, layout.idType());
        ids.prepare(batch * n, batch, n);
        window.writeIds(ids);
        feeds.put(layout.inputIds(), ids.tensor());
        if (layout.attentionMask().isPresent()) {
            IntFeed mask = inputs.feed(1, layout.maskType());
            mask.prepare(batch * grid.width(), batch, grid.width());
            window.writeMask(mask);
            feeds.put(layout.attentionMask().get(), mask.tensor());
        }
        if (layout.positionIds().isPresent()) {
            IntFeed positions = inputs.feed(2, layout.positionType());
            positions.prepare(batch * n, batch, n);
            window.writePositions(positions);
            feeds.put(layout.positionIds().get(), positions.tensor());
        }
        if (layout.useCacheBranch().isPresent()) {
            feeds.put(layout.useCacheBranch().get(), inputs.bool(cache.holdsPresents()));
        }
        List<ModelLayout.CacheSlot> slots = layout.cache();
        for (int i = 0; i < slots.size(); i++) {
            feeds.put(slots.get(i).past(), cache.past(i));
        }
        // an extra input of the previous run that this run lacks must not linger (its default, if any, returns below)
        for (int i = inputs.extraNames.size() - 1; i >= 0; i--) {
            String name = inputs.extraNames.get(i);
            if (!extras.containsKey(name)) {
                feeds.remove(name);
                inputs.extraNames.remove(i);
            }
        }
        for (Map.Entry<String, OnnxTensor> entry : extras.entrySet()) {
            feeds.put(entry.getKey(), entry.getValue());
            if (!inputs.extraNames.contains(entry.getKey())) {
                inputs.extraNames.add(entry.getKey());
            }
        }
        if (feedsPromptLength && !extras.containsKey(CompiledModelAbi.PROMPT_LENGTH_INPUT)) {
            feeds.put(CompiledModelAbi.PROMPT_LENGTH_INPUT, inputs.promptLength(grid));
        }
        for (Map.Entry<String, OnnxTensor> entry : inputDefaults.entrySet()) {
            feeds.putIfAbsent(entry.getKey(), entry.getValue());
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

    /**
     * The tensors of one run by input name (or of every run of a generate call, {@link #refill refilled} in place);
     * closing it frees those it created (not the cache, extras or defaults).
     */
    public static final class StepInputs implements AutoCloseable {
        private final Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        private final Map<String, OnnxTensor> view = Collections.unmodifiableMap(feeds);
        /** ids, mask, positions */
        private final IntFeed[] ints = new IntFeed[3];
        private final OnnxTensor[] bools = new OnnxTensor[2];
        private final List<String> extraNames = new ArrayList<>();
        private OnnxTensor promptLength;

        private IntFeed feed(int slot, OnnxJavaType type) {
            if (ints[slot] == null) {
                ints[slot] = new IntFeed(type);
            }
            return ints[slot];
        }

        private OnnxTensor bool(boolean value) {
            int slot = value ? 1 : 0;
            if (bools[slot] == null) {
                try {
                    bools[slot] = OnnxTensor.createTensor(Ort.env(), new boolean[] {value});
                } catch (OrtException e) {
                    throw new InferenceException("cannot create an input tensor: " + e.getMessage(), e);
                }
            }
            return bools[slot];
        }

        /** The grid's prompt lengths, which stay the same for every run of a generate call. */
        private OnnxTensor promptLength(TokenGrid grid) {
            if (promptLength == null) {
                promptLength = Tensors.ints(OnnxJavaType.INT64, grid.promptLengths(), grid.batchSize());
            }
            return promptLength;
        }

        public Map<String, OnnxTensor> feeds() {
            return view;
        }

        @Override
        public void close() {
            for (IntFeed feed : ints) {
                if (feed != null) {
                    feed.close();
                }
            }
            for (OnnxTensor tensor : bools) {
                if (tensor != null) {
                    tensor.close();
                }
            }
            if (promptLength != null) {
                promptLength.close();
                promptLength = null;
            }
            Arrays.fill(ints, null);
            Arrays.fill(bools, null);
        }
    }
}
