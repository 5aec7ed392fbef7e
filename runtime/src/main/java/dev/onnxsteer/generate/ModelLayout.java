package dev.onnxsteer.generate;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.session.ModelSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a decoder-only language model's graph takes its inputs and returns its outputs, detected
 * from the session's input/output names and shapes:
 * <ul>
 *   <li>{@link Kind#OPTIMUM}: {@code input_ids}, {@code attention_mask}, optional {@code position_ids},
 *       {@code past_key_values.N.key/value} {@code [batch, kv_heads, past, head_dim]} to {@code logits},
 *       {@code present.N.key/value}.</li>
 *   <li>{@link Kind#COMBINED}: ORT-transformer-optimizer GPT-2 style {@code past_N}
 *       {@code [2, batch, heads, past, head_dim]} to {@code present_N}.</li>
 *   <li>{@link Kind#NO_CACHE}: no past inputs; generation recomputes the whole sequence each step.</li>
 * </ul>
 * Integer inputs keep the element type the model declares (int32 or int64).
 *
 * @param kind          the layout family
 * @param inputIds      name of the token id input
 * @param idType        element type of the token ids ({@code INT32} or {@code INT64})
 * @param attentionMask name of the attention mask input, if any
 * @param maskType      its element type (same as idType when there is no mask)
 * @param positionIds   name of the position id input, if any
 * @param positionType  its element type
 * @param useCacheBranch name of a merged decoder's boolean {@code use_cache_branch} input, if any
 * @param cache         the past/present pairs in layer order; empty for {@link Kind#NO_CACHE}
 * @param logits        name of the logits output ({@code [batch, seq, vocab]})
 * @param vocabSize     the logits' last dimension when static
 * @param otherInputs   inputs generation does not feed (e.g. steering vectors without defaults);
 *                      callers supply them through {@link ExtraInputs}
 * @param alignment     where a batch's shorter rows sit: {@link TokenGrid.Alignment#RIGHT} for graphs whose
 *                      attention takes only each row's length from the mask (GroupQueryAttention)
 * @param inPlaceCache  every cache slot's past is a GroupQueryAttention past whose present is the same node's
 *                      output, so one buffer per slot, allocated at the longest length, may be bound as both and
 *                      updated in place ({@link ModelSession#inPlaceCache()}); false when the graph was not read
 */
public record ModelLayout(
        Kind kind, String inputIds, OnnxJavaType idType, Optional<String> attentionMask, OnnxJavaType maskType,
        Optional<String> positionIds, OnnxJavaType positionType, Optional<String> useCacheBranch, List<CacheSlot> cache,
        String logits, OptionalInt vocabSize, List<String> otherInputs, TokenGrid.Alignment alignment,
        boolean inPlaceCache) {

    /** The layout families generation understands. */
    public enum Kind { OPTIMUM, COMBINED, NO_CACHE }

    /**
     * One cache tensor: fed as {@code past}, returned as {@code present}.
     *
     * @param past      input name
     * @param present   output name
     * @param shape     the declared input shape; batch and past dimensions are -1
     * @param batchAxis the batch dimension
     * @param pastAxis  the past-length dimension
     * @param type      element type (float or float16)
     */
    public record CacheSlot(String past, String present, long[] shape, int batchAxis, int pastAxis, OnnxJavaType type) {
        public CacheSlot {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        @Override
        public String toString() {
            return past + " -> " + present + " " + Arrays.toString(shape) + " " + type;
        }

        /** The shape of this slot for {@code batch} rows and {@code pastLength} cached positions. */
        public long[] shapeFor(int batch, int pastLength) {
            long[] dims = shape.clone();
            dims[batchAxis] = batch;
            dims[pastAxis] = pastLength;
            return dims;
        }
    }

    private static final Pattern COMBINED_PAST = Pattern.compile("past_(\\d+)");

    public ModelLayout {
        cache = List.copyOf(cache);
        otherInputs = List.copyOf(otherInputs);
        Objects.requireNonNull(alignment, "alignment");
    }

    /** A layout whose batches are left-padded. */
    public ModelLayout(
            Kind kind, String inputIds, OnnxJavaType idType, Optional<String> attentionMask, OnnxJavaType maskType,
            Optional<String> positionIds, OnnxJavaType positionType, Optional<String> useCacheBranch,
            List<CacheSlot> cache, String logits, OptionalInt vocabSize, List<String> otherInputs) {
        this(kind, inputIds, idType, attentionMask, maskType, positionIds, positionType, useCacheBranch, cache, logits,
                vocabSize, otherInputs, TokenGrid.Alignment.LEFT, false);
    }

    public boolean hasCache() {
        return !cache.isEmpty();
    }

    /** Detects the layout of an open session; a graph that fits none of the families is a BadModelException. */
    public static ModelLayout detect(OrtSession session, String source) {
        return detect(session, source, DecoderNames.OPTIMUM, false);
    }

    /** The name of the attention operator that keeps each row's cache from position 0. */
    public static final String GROUP_QUERY_ATTENTION = "com.microsoft.GroupQueryAttention";

    /**
     * Detects the layout of {@code session} under {@code names}, looking at its graph's operators (a session opened
     * from bytes has none to look at and gets left-padded batches; a genai_config.json alone does not say
     * GroupQueryAttention: the ORT-fused GPT-2 carries one too).
     */
    public static ModelLayout detect(ModelSession session, DecoderNames names) {
        boolean groupQuery = session.operators().contains(GROUP_QUERY_ATTENTION);
        ModelLayout layout = detect(session.ort(), session.source(), names, groupQuery);
        boolean inPlace = layout.hasCache() && layout.cache().stream()
                .allMatch(slot -> slot.present().equals(session.inPlaceCache().get(slot.past())));
        return inPlace ? layout.withInPlaceCache() : layout;
    }

    /** This layout with {@link #inPlaceCache()} true. */
    private ModelLayout withInPlaceCache() {
        return new ModelLayout(kind, inputIds, idType, attentionMask, maskType, positionIds, positionType,
                useCacheBranch, cache, logits, vocabSize, otherInputs, alignment, true);
    }

    /**
     * Detects the layout of an open session whose graph may carry the names of a {@code genai_config.json}.
     *
     * @param groupQueryAttention whether the graph attends with {@code com.microsoft.GroupQueryAttention}; such a
     *                            graph gets {@link TokenGrid.Alignment#RIGHT} batches
     */
    public static ModelLayout detect(OrtSession session, String source, DecoderNames names,
            boolean groupQueryAttention) {
        Map<String, NodeInfo> inputs;
        Map<String, NodeInfo> outputs;
        try {
            inputs = session.getInputInfo();
            outputs = session.getOutputInfo();
        } catch (OrtException e) {
            throw new InferenceException("cannot read the inputs and outputs of " + source + ": " + e.getMessage(), e);
        }
        String ids = names.inputIds();
        if (!inputs.containsKey(ids)) {
            throw new BadModelException(source + " has no " + ids + " input; inputs are " + inputs.keySet());
        }
        if (!outputs.containsKey(names.logits())) {
            throw new BadModelException(source + " has no " + names.logits() + " output; outputs are " + outputs.keySet());
        }
        OnnxJavaType idType = intType(inputs, ids, source);
        Optional<String> mask = Optional.of(names.attentionMask()).filter(inputs::containsKey);
        Optional<String> positions = Optional.of(names.positionIds()).filter(inputs::containsKey);
        OnnxJavaType maskType = mask.isPresent() ? intType(inputs, mask.get(), source) : idType;
        OnnxJavaType positionType = positions.isPresent() ? intType(inputs, positions.get(), source) : idType;
        Optional<String> useCache = Optional.of("use_cache_branch").filter(inputs::containsKey);

        List<CacheSlot> cache = new ArrayList<>();
        CacheSlot condition = null;
        List<String> others = new ArrayList<>();
        Kind kind = Kind.NO_CACHE;
        List<Integer> order = new ArrayList<>();
        for (Map.Entry<String, NodeInfo> entry : inputs.entrySet()) {
            String name = entry.getKey();
            if (name.equals(ids) || mask.filter(name::equals).isPresent()
                    || positions.filter(name::equals).isPresent() || useCache.filter(name::equals).isPresent()) {
                continue;
            }
            OptionalInt keyLayer = names.pastKeyLayer(name);
            OptionalInt valueLayer = names.pastValueLayer(name);
            Matcher combined = COMBINED_PAST.matcher(name);
            if (keyLayer.isPresent() || valueLayer.isPresent()) {
                kind = merge(kind, Kind.OPTIMUM, source);
                int layer = keyLayer.isPresent() ? keyLayer.getAsInt() : valueLayer.getAsInt();
                String present = keyLayer.isPresent() ? names.presentKey(layer) : names.presentValue(layer);
                cache.add(slot(name, present, entry.getValue(), outputs, 4, 0, 2, source));
                order.add(layer * 2 + (keyLayer.isPresent() ? 0 : 1));
            } else if (combined.matches()) {
                kind = merge(kind, Kind.COMBINED, source);
                String present = "present_" + combined.group(1);
                cache.add(slot(name, present, entry.getValue(), outputs, 5, 1, 3, source));
                order.add(Integer.parseInt(combined.group(1)));
            } else if (name.equals(CompiledModelAbi.CONDITION_PAST)) {
                condition = slot(name, CompiledModelAbi.CONDITION_PRESENT, entry.getValue(), outputs, 2, 0, 1, source);
            } else if (name.startsWith("past")) {
                throw new BadModelException(source + " has a cache input " + name
                        + " that fits neither " + names.pastKey().replace("%d", "N") + " / "
                        + names.pastValue().replace("%d", "N") + " nor past_N");
            } else {
                others.add(name);
            }
        }
        List<Integer> index = new ArrayList<>();
        for (int i = 0; i < cache.size(); i++) {
            index.add(i);
        }
        index.sort(Comparator.comparing(order::get));
        List<CacheSlot> sorted = new ArrayList<>();
        for (int i : index) {
            sorted.add(cache.get(i));
        }
        if (condition != null) {
            // a compiled condition's decision rides along as one more cache slot (see CompiledModelAbi)
            if (kind == Kind.NO_CACHE) {
                throw new BadModelException(source + " carries a steering condition (" + CompiledModelAbi.CONDITION_PAST
                        + ") but no KV cache; conditional steering needs a model with past inputs");
            }
            sorted.add(condition);
        }
        if (kind != Kind.NO_CACHE && mask.isEmpty()) {
            throw new BadModelException(source + " has cache inputs but no " + names.attentionMask() + " input");
        }
        TensorInfo logitsInfo = tensorInfo(outputs.get(names.logits()), names.logits(), source);
        long[] logitsShape = logitsInfo.getShape();
        if (logitsShape.length != 3) {
            throw new BadModelException("logits of " + source + " have shape " + Arrays.toString(logitsShape)
                    + " but generation expects [batch, seq, vocab]");
        }
        long vocab = logitsShape[2];
        TokenGrid.Alignment alignment = groupQueryAttention ? TokenGrid.Alignment.RIGHT : TokenGrid.Alignment.LEFT;
        return new ModelLayout(kind, ids, idType, mask, maskType, positions, positionType, useCache, sorted,
                names.logits(), vocab > 0 ? OptionalInt.of((int) vocab) : OptionalInt.empty(), others, alignment, false);
    }

    private static Kind merge(Kind current, Kind found, String source) {
        if (current != Kind.NO_CACHE && current != found) {
            throw new BadModelException(source + " mixes past_key_values.N.* and past_N cache inputs");
        }
        return found;
    }

    private static CacheSlot slot(String past, String present, NodeInfo info, Map<String, NodeInfo> outputs, int rank,
            int batchAxis, int pastAxis, String source) {
        if (!outputs.containsKey(present)) {
            throw new BadModelException(source + " has cache input " + past + " but no output " + present);
        }
        TensorInfo tensor = tensorInfo(info, past, source);
        long[] shape = tensor.getShape();
        if (shape.length != rank) {
            throw new BadModelException("cache input " + past + " of " + source + " has shape "
                    + Arrays.toString(shape) + " but rank " + rank + " was expected");
        }
        for (int axis = 0; axis < shape.length; axis++) {
            if (axis != batchAxis && axis != pastAxis && shape[axis] <= 0) {
                throw new BadModelException("cache input " + past + " of " + source + " has a symbolic dimension "
                        + axis + " in " + Arrays.toString(tensor.getDimensionNames())
                        + "; only batch and past length may be symbolic");
            }
        }
        if (tensor.type != OnnxJavaType.FLOAT && tensor.type != OnnxJavaType.FLOAT16
                && tensor.type != OnnxJavaType.BFLOAT16) {
            throw new BadModelException("cache input " + past + " of " + source + " has element type "
                    + tensor.type + " but float, float16 or bfloat16 was expected");
        }
        return new CacheSlot(past, present, shape, batchAxis, pastAxis, tensor.type);
    }

    private static TensorInfo tensorInfo(NodeInfo info, String name, String source) {
        if (!(info.getInfo() instanceof TensorInfo tensor)) {
            throw new BadModelException(name + " of " + source + " is not a tensor: " + info.getInfo());
        }
        return tensor;
    }

    private static OnnxJavaType intType(Map<String, NodeInfo> inputs, String name, String source) {
        OnnxJavaType type = tensorInfo(inputs.get(name), name, source).type;
        if (type != OnnxJavaType.INT32 && type != OnnxJavaType.INT64) {
            throw new BadModelException(name + " of " + source + " has element type " + type
                    + " but int32 or int64 was expected");
        }
        return type;
    }
}
