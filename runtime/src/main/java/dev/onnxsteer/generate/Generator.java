package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.ModelSession;
import java.util.ArrayList;
import java.util.HashSet;
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
 * and may be used for many {@code generate} calls, one at a time. It checks the request and hands it to
 * a {@link DecodeLoop}: {@link TokenGrid} holds the batch's tokens, {@link StepFeeds} turns them into a
 * run's inputs, {@link KvCache} carries presents to the next run, {@link RowState} samples and stops rows.
 */
public final class Generator {

    private final OrtSession session;
    private final String source;
    private final ModelLayout layout;
    private final Tokenizer tokenizer;
    private final ModelConfig config;
    private final OptionalInt vocabSize;
    private final StepFeeds feeds;
    private final LogitsLayout logitsLayout;
    /** Whether a graph that updates its cache in place gets an in-place cache ({@link #withInPlaceCache}). */
    private final boolean inPlaceCache;
    /** Sees each row's logits before the repetition penalty and sampling; null for none. */
    volatile LogitsProbe logitsProbe;

    /** Observes raw logits, for checks that compare cached and recomputed runs. */
    public interface LogitsProbe {
        /** @param step 0 for the prefill's last position, k for the run after the k-th generated token */
        void onLogits(int step, int row, float[] logits);
    }

    /** Makes later generate calls hand each row's raw logits of every step to {@code probe} (null: stop). */
    public void observeLogits(LogitsProbe probe) {
        this.logitsProbe = probe;
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
        this.feeds = new StepFeeds(Objects.requireNonNull(layout, "layout"), inputDefaults, true);
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
        this.logitsLayout = LogitsLayout.of(session, layout, source);
        this.inPlaceCache = true;
        if (tokenizer != null && vocabSize.isPresent() && tokenizer.vocabSize() > vocabSize.getAsInt()) {
            String from = layout.vocabSize().isPresent() ? "logits dimension" : "vocab_size in " + config.source();
            throw new BadModelException("tokenizer " + tokenizer.file() + " has " + tokenizer.vocabSize()
                    + " tokens but model " + source + " has a vocabulary of " + vocabSize.getAsInt() + " (" + from
                    + "); the tokenizer does not belong to this model");
        }
    }

    private Generator(Generator from, boolean inPlaceCache) {
        this.feeds = from.feeds;
        this.session = from.session;
        this.source = from.source;
        this.layout = from.layout;
        this.tokenizer = from.tokenizer;
        this.config = from.config;
        this.vocabSize = from.vocabSize;
        this.logitsLayout = from.logitsLayout;
        this.logitsProbe = from.logitsProbe;
        this.inPlaceCache = inPlaceCache;
    }

    /**
     * This generator, binding one buffer per cache slot as both past and present where the graph allows it
     * ({@link ModelLayout#inPlaceCache()}; the default), or not: then every run's presents are ONNX Runtime's, as
     * for any other graph, which is the independent path the in-place cache is checked against.
     */
    public Generator withInPlaceCache(boolean use) {
        return use == inPlaceCache ? this : new Generator(this, use);
    }

    /** Detects the layout of {@code session} and builds a generator over it. */
    public static Generator create(ModelSession session, Tokenizer tokenizer, ModelConfig config) {
        return new Generator(session.ort(), session.source(), ModelLayout.detect(session, config.decoder()),
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
     * Generates a continuation for each prompt, as one padded batch ({@link ModelLayout#alignment()}: left, or
     * right for GroupQueryAttention graphs). Prompts are
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
        }
        List<Set<Long>> eosByRow = new ArrayList<>();
        for (GenerationConfig generation : perRow.configs()) {
            eosByRow.add(new HashSet<>(!generation.eosTokenIds().isEmpty() ? generation.eosTokenIds()
                    : tokenizer != null ? tokenizer.eosTokenIds() : config.eosTokenIds()));
        }
        Set<Long> firstEos = eosByRow.get(0);
        long pad = config.padTokenId().orElse(firstEos.isEmpty() ? 0 : firstEos.iterator().next());
        long runSeed = System.nanoTime();

        RowState[] rows = new RowState[batch];
        for (int r = 0; r < batch; r++) {
            long[] prompt = prompts.get(r);
            GenerationConfig generation = perRow.configs().get(r);
            rows[r] = new RowState(r, texts.get(r), prompt.clone(), generation.sampling().newSampler(runSeed),
                    tokenizer == null ? null : tokenizer.streamDecoder(prompt), generation, eosByRow.get(r),
                    perRow.cancelled().get(r));
        }
        TokenGrid grid = new TokenGrid(prompts, maxTokens, layout.alignment(), pad);
        int limit = config.maxPositions().orElse(Integer.MAX_VALUE);
        boolean cached = layout.hasCache() && perRow.configs().get(0).useCache();
        // no run reaches past the longest prompt plus the most new tokens, nor the context
        int capacity = inPlaceCache ? (int) Math.min((long) grid.width() + maxTokens, limit) : 0;
        return new DecodeLoop(session, source, layout, logitsLayout, feeds, logitsProbe)
                .run(grid, rows, cached, limit, capacity, pad, extras, listener);
    }
}
