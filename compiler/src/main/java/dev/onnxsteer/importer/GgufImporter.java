package dev.onnxsteer.importer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Provenance;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Imports a llama, qwen2, phi3, gemma or gemma2 GGUF (see {@link LlamaConfig}) into a model directory shaped like an Optimum export: {@code model.onnx} (with
 * KV cache inputs and outputs, see {@link LlamaGraph}; or in the onnxruntime-genai layout, see {@link GenaiGraph}, with
 * {@code genai_config.json} beside it), {@code config.json} in Hugging Face format,
 * {@code generation_config.json}, {@code tokenizer.json} (see {@link TokenizerJson}) and
 * {@code tokenizer_config.json} (see {@link TokenizerConfig}). Linear projections are float32 MatMul
 * weights or MatMulNBits blocks as the {@link WeightFormat} says; models whose float32 weights would pass
 * 1 GiB get their weights in external data ({@code model.onnx.data}), streamed there tensor by tensor
 * (see {@link WeightSink}). The directory is written under a temporary name beside the target and
 * renamed into place, so a failed import leaves nothing behind.
 */
public final class GgufImporter {
    public static final String TOKENIZER_CONFIG_FILE = "tokenizer_config.json";

    /** Above this many bytes of weights the model is written with external data. */
    public static final long EXTERNAL_DATA_THRESHOLD = 1L << 30;

    /**
     * What an import produced.
     *
     * @param weightBytes bytes of all initializers as written
     * @param quantisedProjections linear projections stored as {@code com.microsoft.MatMulNBits}
     * @param requantised how many of those were requantised rather than copied bit for bit from the GGUF blocks
     * @param worstRequantisationError the largest relative RMS error of a requantised projection against its
     *     dequantised GGUF values (0 when none was requantised)
     */
    public record Result(Path directory, LlamaConfig config, WeightFormat weights, int nodes, long weightBytes,
            boolean externalData, int quantisedProjections, int requantised, double worstRequantisationError,
            ImportFormat format) {}

    private GgufImporter() {}

    /**
     * How to import.
     *
     * @param weights how linear projections are stored
     * @param allowNonfinite import weights that are NaN or infinite instead of refusing the file (see
     *     {@link GgufFile#open(Path, boolean)})
     * @param externalDataThreshold weights go to external data, streamed there tensor by tensor, when their
     *     float32 size exceeds this many bytes
     * @param int8Activations MatMulNBits projections quantise their activations to int8 per block
     *     ({@code accuracy_level} 4, {@code import --int8-activations}), as llama.cpp does: in ONNX Runtime 1.27 on CPU
     *     the fast path for 8-bit weights, logits about 1.5% of the largest from the float import. The attribute on
     *     each MatMulNBits is the record of it; parity reads it and adds the int8 noise it measures to its tolerances.
     *     False (the default): float32 activations ({@code accuracy_level} 0, 8-bit matrices as 4-bit nibble pairs),
     *     and a {@code keep} import of Q4_0/Q8_0 gives the float import's logits up to summation order
     * @param format the graph layout: {@link ImportFormat#AUTO} (the default: the builder's fused one where the
     *     architecture has it), standard operators ({@link ImportFormat#ONNX}) or the onnxruntime-genai builder's
     *     fused one with {@code genai_config.json} ({@link ImportFormat#GENAI})
     */
    public record Options(WeightFormat weights, boolean allowNonfinite, long externalDataThreshold, boolean int8Activations,
            ImportFormat format) {
        /** What {@code onnx-steer import} does without options: {@link WeightFormat#KEEP}, {@link ImportFormat#AUTO}. */
        public static final Options DEFAULT = new Options(WeightFormat.KEEP, false, EXTERNAL_DATA_THRESHOLD, false);

        /** These options in the {@link ImportFormat#AUTO} layout. */
        public Options(WeightFormat weights, boolean allowNonfinite, long externalDataThreshold, boolean int8Activations) {
            this(weights, allowNonfinite, externalDataThreshold, int8Activations, ImportFormat.AUTO);
        }

        /** The weight format and non-finite policy given, external data above {@link #EXTERNAL_DATA_THRESHOLD}. */
        public static Options of(WeightFormat weights, boolean allowNonfinite) {
            return new Options(weights, allowNonfinite, EXTERNAL_DATA_THRESHOLD, false);
        }

        public Options withWeights(WeightFormat format) {
            return new Options(format, allowNonfinite, externalDataThreshold, int8Activations, this.format);
        }

        /** These options writing the graph layout {@code layout}. */
        public Options withFormat(ImportFormat layout) {
            return new Options(weights, allowNonfinite, externalDataThreshold, int8Activations, layout);
        }

        /** These options with MatMulNBits quantising activations to int8 (see {@link #int8Activations}). */
        public Options withInt8Activations() {
            return new Options(weights, allowNonfinite, externalDataThreshold, true, format);
        }
    }

    /** Imports {@code gguf} into {@code outputDirectory}, which must not exist or be empty, with float32 weights ({@link WeightFormat#F32}). */
    public static Result importModel(Path gguf, Path outputDirectory) {
        return importModel(gguf, outputDirectory, WeightFormat.F32);
    }

    /** As {@link #importModel(Path, Path)}, with the linear projections stored as {@code weights} says. */
    public static Result importModel(Path gguf, Path outputDirectory, WeightFormat weights) {
        return importModel(gguf, OutputTarget.refuseExisting(outputDirectory), Options.DEFAULT.withWeights(weights));
    }

    /** As {@link #importModel(Path, Path, WeightFormat)}, in the graph layout {@code format}. */
    public static Result importModel(Path gguf, Path outputDirectory, WeightFormat weights, ImportFormat format) {
        return importModel(gguf, OutputTarget.refuseExisting(outputDirectory), Options.DEFAULT.withWeights(weights).withFormat(format));
    }

    /**
     * Imports {@code gguf} into the output directory; the GGUF file is added to the inputs it protects.
     *
     * @throws dev.onnxsteer.BadModelException when the file is not a llama GGUF the importer can reproduce
     * @throws IllegalArgumentException when the output may not be written (see {@link AtomicFiles#checkDirectoryTarget})
     */
    public static Result importModel(Path gguf, OutputTarget output, Options options) {
        OutputTarget checked = output.withInputs(List.of(gguf));
        AtomicFiles.checkDirectoryTarget(checked);
        Path target = checked.absolute();
        try (GgufFile file = GgufFile.open(gguf, options.allowNonfinite())) {
            LlamaConfig config = LlamaConfig.from(file);
            ImportFormat layout = options.format().resolve(config.architecture());
            boolean genai = layout == ImportFormat.GENAI;
            if (genai) {
                GenaiImport.check(file, config); // before any weight is read
            }
            ObjectNode tokenizer = TokenizerJson.build(file.metadata(), gguf.toString());
            long floatBytes = config.weightBytes();
            boolean external = floatBytes > options.externalDataThreshold();

            Path parent = target.getParent();
            Files.createDirectories(parent);
            Path temp = AtomicFiles.stagingDirectory(target);
            try {
                Path onnx = temp.resolve(ModelFiles.MODEL_FILE);
                LlamaGraph.Built built;
                // external weights stream into the data file tensor by tensor: the heap holds one tensor at a time
                try (WeightSink sink = external ? WeightSink.external(temp.resolve(onnx.getFileName() + ".data")) : WeightSink.inline()) {
                    built = genai ? GenaiImport.build(file, config, options.weights(), options.int8Activations(), sink)
                            : LlamaGraph.build(file, config, options.weights(), options.int8Activations(), sink);
                }
                Model model = built.model();
                model.metadata().put(CompiledModelAbi.VERSION, OnnxSteer.VERSION);
                model.metadata().put(CompiledModelAbi.IMPORTED_FROM, gguf.getFileName().toString());
                model.metadata().put(CompiledModelAbi.IMPORTED_SHA256, Provenance.sha256(gguf));
                model.metadata().put(CompiledModelAbi.IMPORTED_WEIGHTS, options.weights().label());
                long weightBytes = model.graph().initializers().stream().mapToLong(v -> v.initializer().byteSize()).sum();
                ModelWriter.write(model, onnx, false);
                Gemma2Settings gemma2 = config.architecture().equals(LlamaConfig.GEMMA2) ? Gemma2Settings.from(file.metadata()) : null;
                Files.write(temp.resolve(ModelFiles.CONFIG_FILE), json(configJson(config, gemma2)));
                Files.write(temp.resolve("generation_config.json"), json(generationConfig(config)));
                Files.write(temp.resolve(ModelFiles.TOKENIZER_FILE), TokenizerJson.toBytes(tokenizer));
                Files.write(temp.resolve(TOKENIZER_CONFIG_FILE), json(TokenizerConfig.build(file.metadata(), config.contextLength())));
                if (genai) {
                    Files.write(temp.resolve(GenaiConfig.FILE), json(GenaiConfig.json(config, config.architecture())));
                }
                AtomicFiles.replaceDirectory(temp, checked);
                temp = null;
                return new Result(target, config, options.weights(), model.graph().nodes().size(), weightBytes, external,
                        built.quantisedProjections(), built.requantised(), built.worstRequantisationError(), layout);
            } finally {
                if (temp != null) {
                    AtomicFiles.deleteTree(temp);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    /** The Hugging Face class of each supported architecture. */
    static String hfClass(String architecture) {
        return switch (architecture) {
            case LlamaConfig.QWEN2 -> "Qwen2ForCausalLM";
            case LlamaConfig.PHI3 -> "Phi3ForCausalLM";
            case LlamaConfig.GEMMA -> "GemmaForCausalLM";
            case LlamaConfig.GEMMA2 -> "Gemma2ForCausalLM";
            default -> "LlamaForCausalLM";
        };
    }

    /** config.json as Hugging Face writes it for the architecture's ForCausalLM class. */
    static ObjectNode configJson(LlamaConfig c) {
        return configJson(c, null);
    }

    /** As {@link #configJson(LlamaConfig)}, with gemma2's soft-capping, window and query scaling when {@code gemma2} is given. */
    static ObjectNode configJson(LlamaConfig c, Gemma2Settings gemma2) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.putArray("architectures").add(hfClass(c.architecture()));
        n.put("model_type", c.architecture());
        n.put("hidden_size", c.hiddenSize());
        n.put("intermediate_size", c.intermediateSize());
        n.put("num_hidden_layers", c.layers());
        n.put("num_attention_heads", c.heads());
        n.put("num_key_value_heads", c.kvHeads());
        n.put("head_dim", c.headDim());
        n.put("hidden_act", c.gemma() ? "gelu_pytorch_tanh" : "silu");
        n.put("rms_norm_eps", c.rmsNormEps());
        n.put("rope_theta", c.ropeTheta());
        if (c.ropeLinearFactor() != 1f) {
            n.putObject("rope_scaling").put("type", "linear").put("factor", c.ropeLinearFactor());
        } else {
            n.putNull("rope_scaling");
        }
        n.put("vocab_size", c.vocabSize());
        n.put("max_position_embeddings", c.contextLength());
        n.put("bos_token_id", c.bosTokenId());
        n.put("eos_token_id", c.eosTokenId());
        if (c.padTokenId() >= 0) {
            n.put("pad_token_id", c.padTokenId());
        }
        n.put("tie_word_embeddings", c.tiedEmbeddings());
        n.put("attention_bias", c.architecture().equals(LlamaConfig.QWEN2));
        n.put("mlp_bias", false);
        n.put("use_cache", true);
        n.put("torch_dtype", "float32");
        n.put("_name_or_path", c.name());
        if (gemma2 != null) {
            n.put("query_pre_attn_scalar", c.queryPreAttnScalar());
            n.put("attn_logit_softcapping", gemma2.attentionSoftcap());
            n.put("final_logit_softcapping", gemma2.finalSoftcap());
            n.put("sliding_window", gemma2.slidingWindow());
        }
        return n;
    }

    static ObjectNode generationConfig(LlamaConfig c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("bos_token_id", c.bosTokenId());
        n.put("eos_token_id", c.eosTokenId());
        if (c.padTokenId() >= 0) {
            n.put("pad_token_id", c.padTokenId());
        }
        return n;
    }

    private static byte[] json(ObjectNode node) throws IOException {
        return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
    }
}
