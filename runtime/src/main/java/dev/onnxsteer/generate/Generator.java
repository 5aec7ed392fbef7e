package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * Generates text with a decoder-only ONNX language model: a prefill run over the (left-padded)
 * prompts, then one run per generated token that feeds each {@code present*} output of the
 * previous run straight back as the matching {@code past*} input (the previous
 * {@link OrtSession.Result} stays open until the next run has consumed it). Models without
 * cache inputs, or {@link GenerationConfig#useCache()} false, recompute the whole sequence at
 * every step and produce the same tokens.
 *
 * <p>The generator does not own the session or the tokenizer; it holds no state between calls
 * and may be used for many {@code generate} calls, one at a time.
 */
public final class Generator {

    private final OrtSession session;
    private final String source;
    private final ModelLayout layout;
    private final Tokenizer tokenizer;
    private final ModelConfig config;
    private final OptionalInt vocabSize;
    private final Map<String, OnnxTensor> inputDefaults;
    private final boolean feedsPromptLength;
    /** Test hook: sees each row's logits before the repetition penalty and sampling. */
    volatile LogitsProbe logitsProbe;

    /** Observes raw logits; package-private, for tests that compare cached and recomputed runs. */
    interface LogitsProbe {
        void onLogits(int step, int row, float[] logits);
    }

    /**
     * @param session   an open session of the model
     * @param source    names the model in error messages
     * @param layout    the detected layout of {@code session}
     * @param tokenizer may be null: then only {@link #generateIds} works and no text is produced
     * @param config    the model's config ({@link ModelConfig#EMPTY} when there is none)
     * @throws BadModelException when the tokenizer has more tokens than the model's vocabulary
     */
    public Generator(OrtSession session, String source, ModelLayout layout, Tokenizer tokenizer, ModelConfig config) {
        this(session, source, layout, tokenizer, config, Map.of());
    }

    /**
     * @param inputDefaults tensors fed for inputs that neither generation nor the caller's {@link ExtraInputs}
     *                      supply (a compiled model's lifted steering defaults, {@link ModelSession#inputDefaults()});
     *                      not owned here
     */
    public Generator(OrtSession session, String source, ModelLayout layout, Tokenizer tokenizer, ModelConfig config,
            Map<String, OnnxTensor> inputDefaults) {
        this.inputDefaults = Map.copyOf(inputDefaults);
        // position-masked models compare positions with each row's prompt length; feeding it keeps
        // prompt/generated masks identical with the KV cache and with full recompute
        this.feedsPromptLength = layout.otherInputs().contains(Positions.PROMPT_LENGTH_INPUT);
        this.session = Objects.requireNonNull(session, "session");
        this.source = Objects.requireNonNull(source, "source");
        this.layout = Objects.requireNonNull(layout, "layout");
        this.tokenizer = tokenizer;
        this.config = Objects.requireNonNull(config, "config");
        if (layout.vocabSize().isPresent() && config.vocabSize().isPresent()
                && layout.vocabSize().getAsInt() != config.vocabSize().getAsInt()) {
            throw new BadModelException(FileProblem.message(config.source(), "vocab_size disagrees with the graph of "
                    + source, layout.vocabSize().getAsInt() + ", the logits dimension", config.vocabSize().getAsInt()));
        }
        this.vocabSize = layout.vocabSize().isPresent() ? layout.vocabSize() : config.vocabSize();
        if (tokenizer != null && vocabSize.isPresent() && tokenizer.vocabSize() > vocabSize.getAsInt()) {
            String from = layout.vocabSize().isPresent() ? "logits dimension" : "vocab_size in " + config.source();
            throw new BadModelException("tokenizer " + tokenizer.file() + " has " + tokenizer.vocabSize()
                    + " tokens but model " + source + " has a vocabulary of " + vocabSize.getAsInt() + " (" + from
                    + "); the tokenizer does not belong to this model");
        }
    }

    /** Detects the layout of {@code session} and builds a generator over it. */
    public static Generator create(ModelSession session, Tokenizer tokenizer, ModelConfig config) {
        return new Generator(session.ort(), session.source(), ModelLayout.detect(session.ort(), session.source()),
                tokenizer, config, session.inputDefaults());
    }

    public ModelLayout layout() {
        return layout;
    }

    /** The model's vocabulary size (logits dimension, else config {@code vocab_size}), when known. */
    public OptionalInt vocabSize() {
        return vocabSize;
    }

    /** {@link #generate(List, GenerationConfig, ExtraInputs, TokenListener)} without extra inputs or listener. */
    public List<Generation> generate(List<String> prompts, GenerationConfig generation) {
        return generate(prompts, generation, ExtraInputs.NONE, TokenListener.NONE);
    }

    /**
     * Generates a continuation for each prompt, as one batch with left padding. Prompts are
     * encoded with the tokenizer's special tokens (e.g. BOS); an empty prompt becomes the BOS token.
     * Rows finish independently (EOS, stop string or length); a finished row keeps being fed a
     * pad token but its output no longer changes.
     *
     * @param extras   extra input tensors for every run (see {@link ExtraInputs}); not closed here
     * @param listener called for each token of each row as it is produced, on the calling thread
     * @return one result per prompt, in order; nothing else is mutated
     */
    public List<Generation> generate(List<String> prompts, GenerationConfig generation, ExtraInputs extras,
            TokenListener listener) {
        Tokenizer tok = requireTokenizer();
        List<long[]> ids = new ArrayList<>();
        for (String prompt : prompts) {
            long[] encoded = tok.encode(prompt, true);
            if (encoded.length == 0) {
                if (tok.bosTokenId().isEmpty()) {
                    throw new IllegalArgumentException("prompt is empty and the model has no BOS token to start from");
                }
                encoded = new long[] {tok.bosTokenId().getAsLong()};
            }
            ids.add(requireEmbeddable(encoded));
        }
        return run(List.copyOf(prompts), ids, sameForAll(generation, ids.size()), extras, listener);
    }

    /**
     * {@code ids}, as the tokenizer encoded a prompt, when the model can embed every one; a tokenizer whose
     * post-processor or merges yield an id at or beyond the vocabulary is a bad tokenizer file, not a bad prompt.
     *
     * @throws BadModelException naming the tokenizer file, the id and the model's vocabulary size
     */
    public long[] requireEmbeddable(long[] ids) {
        if (vocabSize.isEmpty()) {
            return ids;
        }
        int vocab = vocabSize.getAsInt();
        for (long id : ids) {
            if (id < 0 || id >= vocab) {
                String file = tokenizer != null ? tokenizer.file().toString() : "the tokenizer";
                throw new BadModelException(FileProblem.message(file, "encodes the prompt to a token id model " + source
                        + " cannot embed", "ids from 0 to " + (vocab - 1) + ", the model's vocabulary of " + vocab, id));
            }
        }
        return ids;
    }

    /**
     * Like {@link #generate(List, GenerationConfig, ExtraInputs, TokenListener)} from token ids.
     * Without a tokenizer the results carry no text and stop strings are refused.
     */
    public List<Generation> generateIds(List<long[]> prompts, GenerationConfig generation, ExtraInputs extras,
            TokenListener listener) {
        List<String> texts = new ArrayList<>();
        for (long[] prompt : prompts) {
            texts.add(tokenizer == null ? "" : tokenizer.decode(prompt, true));
        }
        return run(texts, prompts, sameForAll(generation, prompts.size()), extras, listener);
    }

    /**
     * One row of {@link #generateRows}: its prompt ids, its own settings, and a flag the caller may
     * raise at any time to stop the row (checked before each token; the row then ends with
     * {@link FinishReason#CANCELLED} and its listener hears nothing more).
     *
     * @param text      the prompt text reported in the result (not re-encoded)
     * @param cancelled polled once per step on the generating thread; {@link #NEVER} when not needed
     */
    public record RowRequest(String text, long[] promptIds, GenerationConfig generation, BooleanSupplier cancelled) {
        public static final BooleanSupplier NEVER = () -> false;

        public RowRequest {
            Objects.requireNonNull(text, "text");
            Objects.requireNonNull(promptIds, "promptIds");
            Objects.requireNonNull(generation, "generation");
            cancelled = cancelled == null ? NEVER : cancelled;
        }
    }

    /**
     * Generates one batch whose rows each carry their own settings (max tokens, sampling and seed,
     * stop strings, EOS ids), as a server batches unrelated requests: row {@code r} produces the
     * tokens it would produce alone with the same settings. All rows must agree on
     * {@link GenerationConfig#useCache()}. Mutates nothing but the listener's world.
     *
     * @return one result per row, in order
     */
    public List<Generation> generateRows(List<RowRequest> rows, ExtraInputs extras, TokenListener listener) {
        List<String> texts = new ArrayList<>();
        List<long[]> ids = new ArrayList<>();
        List<GenerationConfig> configs = new ArrayList<>();
        List<BooleanSupplier> cancels = new ArrayList<>();
        for (RowRequest row : rows) {
            texts.add(row.text());
            ids.add(row.promptIds());
            configs.add(row.generation());
            cancels.add(row.cancelled());
            if (row.generation().useCache() != rows.get(0).generation().useCache()) {
                throw new IllegalArgumentException("rows of one batch must agree on useCache");
            }
        }
        return run(texts, ids, new PerRow(configs, cancels), extras, listener);
    }

    /** Per-row settings of one run. */
    private record PerRow(List<GenerationConfig> configs, List<BooleanSupplier> cancelled) {}

    private static PerRow sameForAll(GenerationConfig generation, int rows) {
        Objects.requireNonNull(generation, "generation");
        List<GenerationConfig> configs = new ArrayList<>();
        List<BooleanSupplier> cancels = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            configs.add(generation);
            cancels.add(RowRequest.NEVER);
        }
        return new PerRow(configs, cancels);
    }

    private Tokenizer requireTokenizer() {
        if (tokenizer == null) {
            throw new IllegalStateException("this generator has no tokenizer; use generateIds");
        }
        return tokenizer;
    }

    /** Per-row state of one generate call. */
    private static final class Row {
        final int index;
        final String prompt;
        final long[] promptIds;
        final Sampler sampler;
        final StreamDecoder decoder;
        final GenerationConfig generation;
        final Set<Long> eos;
        final BooleanSupplier cancelled;
        final List<Long> generated = new ArrayList<>();
        FinishReason reason;
        String text = "";
        int streamed;
        long finishedAt;

        Row(int index, String prompt, long[] promptIds, Sampler sampler, StreamDecoder decoder,
                GenerationConfig generation, Set<Long> eos, BooleanSupplier cancelled) {
            this.index = index;
            this.prompt = prompt;
            this.promptIds = promptIds;
            this.sampler = sampler;
            this.decoder = decoder;
            this.generation = generation;
            this.eos = eos;
            this.cancelled = cancelled;
        }

        boolean finished() {
            return reason != null;
        }
    }

    private List<Generation> run(List<String> texts, List<long[]> prompts, PerRow perRow,
            ExtraInputs extras, TokenListener listener) {
        Objects.requireNonNull(extras, "extras");
        Objects.requireNonNull(listener, "listener");
        int batch = prompts.size();
        if (batch == 0) {
            return List.of();
        }
        int maxTokens = 0;
        for (GenerationConfig generation : perRow.configs()) {
            if (tokenizer == null && !generation.stopStrings().isEmpty()) {
                throw new IllegalArgumentException("stop strings need a tokenizer");
            }
            maxTokens = Math.max(maxTokens, generation.maxTokens());
        }
        int maxPrompt = 0;
        for (int r = 0; r < batch; r++) {
            long[] prompt = prompts.get(r);
            if (prompt.length == 0) {
                throw new IllegalArgumentException("prompt " + r + " has no tokens");
            }
            for (long id : prompt) {
                if (id < 0 || (vocabSize.isPresent() && id >= vocabSize.getAsInt())) {
                    throw new IllegalArgumentException("prompt " + r + " has token id " + id + " but the vocabulary of "
                            + source + " is " + vocabSize.orElse(-1) + " tokens");
                }
            }
            if (config.maxPositions().isPresent() && prompt.length > config.maxPositions().getAsInt()) {
                throw new InferenceException("prompt " + r + " has " + prompt.length + " tokens but the context of "
                        + source + " is " + config.maxPositions().getAsInt() + " tokens (" + config.source() + ")");
            }
            maxPrompt = Math.max(maxPrompt, prompt.length);
        }
        List<Set<Long>> eosByRow = new ArrayList<>();
        for (GenerationConfig generation : perRow.configs()) {
            eosByRow.add(new HashSet<>(!generation.eosTokenIds().isEmpty() ? generation.eosTokenIds()
                    : tokenizer != null ? tokenizer.eosTokenIds() : config.eosTokenIds()));
        }
        Set<Long> firstEos = eosByRow.get(0);
        long pad = config.padTokenId().orElse(firstEos.isEmpty() ? 0 : firstEos.iterator().next());
        long runSeed = System.nanoTime();

        Row[] rows = new Row[batch];
        int capacity = maxPrompt + maxTokens;
        long[][] sequence = new long[batch][capacity];
        int[][] mask = new int[batch][capacity];
        for (int r = 0; r < batch; r++) {
            long[] prompt = prompts.get(r);
            int offset = maxPrompt - prompt.length;
            Arrays.fill(sequence[r], 0, offset, pad);
            System.arraycopy(prompt, 0, sequence[r], offset, prompt.length);
            Arrays.fill(mask[r], offset, maxPrompt, 1);
            GenerationConfig generation = perRow.configs().get(r);
            rows[r] = new Row(r, texts.get(r), prompt.clone(), generation.sampling().newSampler(runSeed),
                    tokenizer == null ? null : tokenizer.streamDecoder(prompt), generation, eosByRow.get(r),
                    perRow.cancelled().get(r));
        }
        int limit = config.maxPositions().orElse(Integer.MAX_VALUE);
        boolean cached = layout.hasCache() && perRow.configs().get(0).useCache();

        List<OnnxTensor> emptyPast = new ArrayList<>();
        long[] runNanos = {0};
        OrtSession.Result previous = null;
        try {
            for (ModelLayout.CacheSlot slot : layout.cache()) {
                emptyPast.add(emptyTensor(slot, batch));
            }
            long start = System.nanoTime();
            int length = maxPrompt;
            long[] promptLengths = new long[batch];
            for (int r = 0; r < batch; r++) {
                promptLengths[r] = prompts.get(r).length;
            }
            previous = runStep(0, sequence, mask, 0, length, emptyPast, null, extras, promptLengths, runNanos);
            long prefillEnd = System.nanoTime();
            double prefillMs = (prefillEnd - start) / 1e6;
            for (int step = 1; ; step++) {
                float[][] logits = lastLogits(previous, batch);
                boolean contextFull = length + 1 >= limit;
                boolean anyActive = false;
                for (Row row : rows) {
                    if (!row.finished() && row.cancelled.getAsBoolean()) {
                        cancel(row);
                    }
                    if (!row.finished()) {
                        LogitsProbe probe = logitsProbe;
                        if (probe != null) {
                            probe.onLogits(step - 1, row.index, logits[row.index].clone());
                        }
                        long token = choose(row, logits[row.index]);
                        sequence[row.index][length] = token;
                        advance(row, token, contextFull, listener);
                        anyActive |= !row.finished();
                    } else {
                        sequence[row.index][length] = pad;
                    }
                }
                for (int r = 0; r < batch; r++) {
                    mask[r][length] = 1;
                }
                length++;
                if (!anyActive) {
                    break;
                }
                OrtSession.Result next = cached
                        ? runStep(step, sequence, mask, length - 1, length, null, previous, extras, promptLengths, runNanos)
                        : runStep(step, sequence, mask, 0, length, emptyPast, null, extras, promptLengths, runNanos);
                previous.close();
                previous = next;
            }
            List<Generation> results = new ArrayList<>(batch);
            for (Row row : rows) {
                int count = row.generated.size();
                double decodeSeconds = (row.finishedAt - prefillEnd) / 1e9;
                double rate = count > 1 && decodeSeconds > 0 ? (count - 1) / decodeSeconds : 0;
                results.add(new Generation(row.prompt, row.text, row.generated, row.reason, row.promptIds.length,
                        count, prefillMs, rate, runNanos[0] / 1e6));
            }
            return results;
        } finally {
            if (previous != null) {
                previous.close();
            }
            emptyPast.forEach(OnnxTensor::close);
        }
    }

    private long choose(Row row, float[] logits) {
        double penalty = row.generation.sampling().repetitionPenalty();
        if (penalty != 1.0) {
            RepetitionPenalty.apply(logits, Tokenizer.concat(row.promptIds, row.generated), penalty);
        }
        return row.sampler.sample(logits);
    }

    /** Records {@code token} for {@code row}, decides whether the row is done, and streams its text. */
    private void advance(Row row, long token, boolean contextFull, TokenListener listener) {
        GenerationConfig generation = row.generation;
        if (row.eos.contains(token)) {
            finish(row, FinishReason.EOS, listener, token);
            return;
        }
        row.generated.add(token);
        if (row.decoder == null) {
            if (row.generated.size() >= generation.maxTokens() || contextFull) {
                row.reason = FinishReason.LENGTH;
                row.finishedAt = System.nanoTime();
            }
            listener.onToken(row.index, token, "");
            return;
        }
        row.decoder.push(token);
        String text = row.decoder.text();
        int stopAt = -1;
        for (String stop : generation.stopStrings()) {
            int at = text.indexOf(stop);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) {
                stopAt = at;
            }
        }
        if (stopAt >= 0) {
            String piece = stopAt > row.streamed ? text.substring(row.streamed, stopAt) : "";
            row.text = text.substring(0, stopAt);
            row.streamed = stopAt;
            row.reason = FinishReason.STOP;
            row.finishedAt = System.nanoTime();
            listener.onToken(row.index, token, piece);
            return;
        }
        if (row.generated.size() >= generation.maxTokens() || contextFull) {
            finish(row, FinishReason.LENGTH, listener, token);
            return;
        }
        int safe = text.length() - heldBack(text, generation.stopStrings());
        String piece = safe > row.streamed ? text.substring(row.streamed, safe) : "";
        row.streamed = Math.max(row.streamed, safe);
        listener.onToken(row.index, token, piece);
    }

    /** Stops a row the caller cancelled: its text so far is kept, the listener hears nothing more. */
    private static void cancel(Row row) {
        if (row.decoder != null) {
            row.decoder.flush();
            row.text = row.decoder.text();
        }
        row.reason = FinishReason.CANCELLED;
        row.finishedAt = System.nanoTime();
    }

    private static void finish(Row row, FinishReason reason, TokenListener listener, long token) {
        String piece = "";
        if (row.decoder != null) {
            row.decoder.flush();
            String text = row.decoder.text();
            piece = text.length() > row.streamed ? text.substring(row.streamed) : "";
            row.text = text;
            row.streamed = text.length();
        }
        row.reason = reason;
        row.finishedAt = System.nanoTime();
        listener.onToken(row.index, token, piece);
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of a stop string (not yet safe to stream). */
    static int heldBack(String text, List<String> stops) {
        int held = 0;
        for (String stop : stops) {
            for (int n = Math.min(stop.length() - 1, text.length()); n > held; n--) {
                if (text.regionMatches(text.length() - n, stop, 0, n)) {
                    held = n;
                    break;
                }
            }
        }
        return held;
    }

    /**
     * Runs the model over columns {@code [from, to)} of the sequence. {@code past} is either the
     * empty cache tensors ({@code pastResult} null) or taken from {@code pastResult}'s presents.
     * Adds the time spent in {@code session.run} to {@code runNanos[0]}.
     */
    private OrtSession.Result runStep(int step, long[][] sequence, int[][] mask, int from, int to,
            List<OnnxTensor> emptyPast, OrtSession.Result pastResult, ExtraInputs extras, long[] promptLengths,
            long[] runNanos) {
        int batch = sequence.length;
        int width = to - from;
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
            long[] ids = new long[batch * width];
            long[] positions = new long[batch * width];
            long[] maskFlat = new long[batch * to];
            for (int r = 0; r < batch; r++) {
                int seen = 0;
                for (int c = 0; c < to; c++) {
                    maskFlat[r * to + c] = mask[r][c];
                    seen += mask[r][c];
                    if (c >= from) {
                        ids[r * width + c - from] = sequence[r][c];
                        positions[r * width + c - from] = mask[r][c] == 0 ? 0 : seen - 1;
                    }
                }
            }
            inputs.put(layout.inputIds(), track(created, Tensors.ints(layout.idType(), ids, batch, width)));
            if (layout.attentionMask().isPresent()) {
                inputs.put(layout.attentionMask().get(),
                        track(created, Tensors.ints(layout.maskType(), maskFlat, batch, to)));
            }
            if (layout.positionIds().isPresent()) {
                inputs.put(layout.positionIds().get(),
                        track(created, Tensors.ints(layout.positionType(), positions, batch, width)));
            }
            if (layout.useCacheBranch().isPresent()) {
                inputs.put(layout.useCacheBranch().get(),
                        track(created, OnnxTensor.createTensor(Ort.env(), new boolean[] {pastResult != null})));
            }
            List<ModelLayout.CacheSlot> cache = layout.cache();
            for (int i = 0; i < cache.size(); i++) {
                ModelLayout.CacheSlot slot = cache.get(i);
                inputs.put(slot.past(), pastResult == null ? emptyPast.get(i) : present(pastResult, slot));
            }
            Map<String, OnnxTensor> extra = extras.forStep(new ExtraInputs.Step(step, batch, width, from));
            for (Map.Entry<String, OnnxTensor> entry : extra.entrySet()) {
                if (inputs.containsKey(entry.getKey())) {
                    throw new IllegalArgumentException("extra input " + entry.getKey()
                            + " is fed by generation itself; extra inputs may not replace " + inputs.keySet());
                }
                inputs.put(entry.getKey(), entry.getValue());
            }
            if (feedsPromptLength && !inputs.containsKey(Positions.PROMPT_LENGTH_INPUT)) {
                inputs.put(Positions.PROMPT_LENGTH_INPUT,
                        track(created, Tensors.ints(OnnxJavaType.INT64, promptLengths, batch)));
            }
            for (Map.Entry<String, OnnxTensor> entry : inputDefaults.entrySet()) {
                inputs.putIfAbsent(entry.getKey(), entry.getValue());
            }
            if (step == 0) {
                List<String> missing = new ArrayList<>();
                for (String name : layout.otherInputs()) {
                    if (!inputs.containsKey(name)) {
                        missing.add(name);
                    }
                }
                if (!missing.isEmpty()) {
                    throw new InferenceException(source + " has inputs " + missing
                            + " that generation does not feed; supply them through ExtraInputs");
                }
            }
            long start = System.nanoTime();
            try {
                return session.run(inputs);
            } finally {
                runNanos[0] += System.nanoTime() - start;
            }
        } catch (OrtException e) {
            throw new InferenceException("running " + source + " failed at generation step " + step + ": "
                    + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    private OnnxTensor present(OrtSession.Result result, ModelLayout.CacheSlot slot) {
        OnnxValue value = result.get(slot.present())
                .orElseThrow(() -> new InferenceException(source + " returned no " + slot.present()));
        if (!(value instanceof OnnxTensor tensor)) {
            throw new InferenceException(slot.present() + " of " + source + " is not a tensor");
        }
        return tensor;
    }

    /** The logits of the last position of each row, as fresh arrays. */
    private float[][] lastLogits(OrtSession.Result result, int batch) {
        OnnxValue value = result.get(layout.logits())
                .orElseThrow(() -> new InferenceException(source + " returned no " + layout.logits()));
        if (!(value instanceof OnnxTensor tensor)) {
            throw new InferenceException(layout.logits() + " of " + source + " is not a tensor");
        }
        long[] shape = tensor.getInfo().getShape();
        if (shape.length != 3 || shape[0] != batch) {
            throw new InferenceException("logits of " + source + " have shape " + Arrays.toString(shape)
                    + " but [" + batch + ", seq, vocab] was expected");
        }
        int seq = (int) shape[1];
        int vocab = (int) shape[2];
        FloatBuffer data = tensor.getFloatBuffer();
        float[][] rows = new float[batch][vocab];
        for (int r = 0; r < batch; r++) {
            data.position((r * seq + seq - 1) * vocab);
            data.get(rows[r]);
        }
        return rows;
    }

    private static OnnxTensor track(List<OnnxTensor> created, OnnxTensor tensor) {
        created.add(tensor);
        return tensor;
    }

    private OnnxTensor emptyTensor(ModelLayout.CacheSlot slot, int batch) {
        try {
            ByteBuffer none = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
            return OnnxTensor.createTensor(Ort.env(), none, slot.shapeFor(batch, 0), slot.type());
        } catch (OrtException e) {
            throw new InferenceException("cannot create an empty " + slot.past() + " for " + source + ": "
                    + e.getMessage(), e);
        }
    }
}
