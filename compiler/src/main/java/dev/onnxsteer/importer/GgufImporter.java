package dev.onnxsteer.importer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Provenance;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Imports a llama GGUF into a model directory shaped like an Optimum export: {@code model.onnx} (with
 * KV cache inputs and outputs, see {@link LlamaGraph}), {@code config.json} in Hugging Face format,
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
            boolean externalData, int quantisedProjections, int requantised, double worstRequantisationError) {}

    private GgufImporter() {}

    /**
     * Imports {@code gguf} into {@code outputDirectory}, which must not exist or be empty.
     *
     * @throws dev.onnxsteer.BadModelException when the file is not a llama GGUF the importer can reproduce
     * @throws IllegalArgumentException when {@code outputDirectory} exists and is not empty
     */
    public static Result importModel(Path gguf, Path outputDirectory) {
        return importModel(gguf, outputDirectory, WeightFormat.F32);
    }

    /** As {@link #importModel(Path, Path)}, with the linear projections stored as {@code weights} says. */
    public static Result importModel(Path gguf, Path outputDirectory, WeightFormat weights) {
        return importModel(gguf, outputDirectory, weights, EXTERNAL_DATA_THRESHOLD);
    }

    /**
     * As {@link #importModel(Path, Path, WeightFormat)}; weights go to external data, streamed there tensor by
     * tensor, when their float32 size exceeds {@code externalDataThreshold} bytes.
     */
    public static Result importModel(Path gguf, Path outputDirectory, WeightFormat weights, long externalDataThreshold) {
        Path target = outputDirectory.toAbsolutePath().normalize();
        checkTarget(target);
        try (GgufFile file = GgufFile.open(gguf)) {
            LlamaConfig config = LlamaConfig.from(file);
            ObjectNode tokenizer = TokenizerJson.build(file.metadata(), gguf.toString());
            long floatBytes = config.weightBytes();
            boolean external = floatBytes > externalDataThreshold;

            Path parent = target.getParent();
            Files.createDirectories(parent);
            Path temp = AtomicFiles.stagingDirectory(target);
            try {
                Path onnx = temp.resolve(ModelFiles.MODEL_FILE);
                LlamaGraph.Built built;
                // external weights stream into the data file tensor by tensor: the heap holds one tensor at a time
                try (WeightSink sink = external ? WeightSink.external(temp.resolve(onnx.getFileName() + ".data")) : WeightSink.inline()) {
                    built = LlamaGraph.build(file, config, weights, sink);
                }
                Model model = built.model();
                model.metadata().put("onnx_steer.version", OnnxSteer.VERSION);
                model.metadata().put("onnx_steer.imported_from", gguf.getFileName().toString());
                model.metadata().put("onnx_steer.imported_sha256", Provenance.sha256(gguf));
                model.metadata().put("onnx_steer.imported_weights", weights.label());
                long weightBytes = model.graph().initializers().stream().mapToLong(v -> v.initializer().byteSize()).sum();
                ModelWriter.write(model, onnx, false);
                Files.write(temp.resolve(ModelFiles.CONFIG_FILE), json(configJson(config)));
                Files.write(temp.resolve("generation_config.json"), json(generationConfig(config)));
                Files.write(temp.resolve(ModelFiles.TOKENIZER_FILE), TokenizerJson.toBytes(tokenizer));
                Files.write(temp.resolve(TOKENIZER_CONFIG_FILE), json(TokenizerConfig.build(file.metadata(), config.contextLength())));
                checkTarget(target);
                Files.deleteIfExists(target); // an empty directory
                AtomicFiles.moveIntoPlace(temp, target);
                temp = null;
                return new Result(target, config, weights, model.graph().nodes().size(), weightBytes, external,
                        built.quantisedProjections(), built.requantised(), built.worstRequantisationError());
            } finally {
                if (temp != null) {
                    AtomicFiles.deleteTree(temp);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    private static void checkTarget(Path target) {
        if (Files.isDirectory(target)) {
            try (Stream<Path> entries = Files.list(target)) {
                if (entries.findAny().isPresent()) {
                    throw new IllegalArgumentException("output directory " + target
                            + " exists and is not empty; expected a new or empty directory");
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + target, e);
            }
        } else if (Files.exists(target)) {
            throw new IllegalArgumentException("output " + target + " exists and is a file; expected a new or empty directory");
        }
    }

    /** config.json as Hugging Face writes it for LlamaForCausalLM. */
    static ObjectNode configJson(LlamaConfig c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.putArray("architectures").add("LlamaForCausalLM");
        n.put("model_type", "llama");
        n.put("hidden_size", c.hiddenSize());
        n.put("intermediate_size", c.intermediateSize());
        n.put("num_hidden_layers", c.layers());
        n.put("num_attention_heads", c.heads());
        n.put("num_key_value_heads", c.kvHeads());
        n.put("head_dim", c.headDim());
        n.put("hidden_act", "silu");
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
        n.put("attention_bias", false);
        n.put("mlp_bias", false);
        n.put("use_cache", true);
        n.put("torch_dtype", "float32");
        n.put("_name_or_path", c.name());
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
