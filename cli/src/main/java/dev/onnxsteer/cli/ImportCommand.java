package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.LlamaConfig;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.importer.WeightFormat;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer import FILE.gguf -o DIR}: a llama GGUF to an Optimum-shaped ONNX model directory. */
@Command(name = "import", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"Import a llama GGUF into a model directory (model.onnx with KV cache, config.json,"
                + " generation_config.json, tokenizer.json, tokenizer_config.json) that every other command reads.",
                "GGUF tensor types read: " + GgmlType.SUPPORTED + "."})
final class ImportCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Mixin
    ForceOption force;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "FILE", description = "The .gguf file (general.architecture llama, qwen2, phi3, gemma or gemma2).")
    Path gguf;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR", required = true,
            description = "Output model directory; must not exist or be empty (unless --force).")
    Path output;

    @Option(names = "--weights", paramLabel = "FORMAT", defaultValue = "keep", converter = WeightFormatConverter.class,
            description = {"How linear projections are stored: keep (the default: Q4_0 and Q8_0 blocks copied bit for bit"
                    + " into com.microsoft.MatMulNBits, block 32; 2-4 bit types requantised to int4, 5-6 bit types to int8;"
                    + " float types as f32 MatMul), f32 (dequantised MatMul), int8 or int4 (MatMulNBits; Q8_0 resp. Q4_0"
                    + " blocks copied bit for bit, other types requantised). Embeddings and norms are float32."})
    WeightFormat weights;

    @Option(names = "--format", paramLabel = "LAYOUT", defaultValue = "auto", converter = FormatConverter.class,
            description = {"Graph layout: auto (the default: genai where the architecture has it, else onnx), genai (the"
                    + " onnxruntime-genai model builder's: SimplifiedLayerNormalization and SkipSimplifiedLayerNormalization,"
                    + " packed q|k|v into com.microsoft.GroupQueryAttention, rotary inside it when the head size is a multiple"
                    + " of 16, else RotaryEmbedding; no position_ids input; genai_config.json beside the model; the fastest:"
                    + " llama, qwen2, phi3 and gemma) or onnx (standard operators as torch.onnx / Optimum export the Hugging"
                    + " Face model; every architecture, gemma2 always)."})
    ImportFormat format;

    @Option(names = "--int8-activations",
            description = {"MatMulNBits projections quantise their input to int8 per block of 32 and multiply in integers"
                    + " (accuracy_level 4), as llama.cpp does: faster on CPU, logits about 1.5%% of the largest from the float"
                    + " import; parity proves rewrites on the accuracy_level 0 twin and bounds the shipped graph by the"
                    + " measured int8 noise."})
    boolean int8Activations;

    @Option(names = "--json", description = "Print a JSON summary instead of text.")
    boolean json;

    @Option(names = "--allow-nonfinite",
            description = "Import weights that are NaN or infinite instead of refusing the file (exit 3).")
    boolean allowNonfinite;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        OutputTarget target = force.target(output, gguf);
        AtomicFiles.checkDirectoryTarget(target); // refused before the progress line, so a refusal is one line
        err.println("importing " + gguf + " ...");
        err.flush();
        GgufImporter.Options options = GgufImporter.Options.of(weights, allowNonfinite).withFormat(format);
        if (int8Activations) {
            options = options.withInt8Activations();
        }
        GgufImporter.Result result = GgufImporter.importModel(gguf, target, options);
        LlamaConfig c = result.config();
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode node = mapper.createObjectNode();
            node.put("directory", result.directory().toString());
            node.put("architecture", c.architecture());
            node.put("layers", c.layers());
            node.put("hidden_size", c.hiddenSize());
            node.put("heads", c.heads());
            node.put("kv_heads", c.kvHeads());
            node.put("intermediate_size", c.intermediateSize());
            node.put("vocab_size", c.vocabSize());
            node.put("nodes", result.nodes());
            node.put("weight_bytes", result.weightBytes());
            node.put("external_data", result.externalData());
            node.put("format", result.format().label());
            node.put("weights", result.weights().label());
            node.put("quantised_projections", result.quantisedProjections());
            node.put("requantised_projections", result.requantised());
            node.put("worst_requantisation_error", result.worstRequantisationError());
            node.put("int8_activations", options.int8Activations() && result.quantisedProjections() > 0);
            out.println(mapper.writeValueAsString(node));
        } else {
            out.println(result.directory());
            err.println(String.format("%s: %d layers, hidden %d, %d heads (%d kv), ffn %d, vocab %d; %d nodes%s, %.1f MiB of weights%s",
                    c.architecture(), c.layers(), c.hiddenSize(), c.heads(), c.kvHeads(), c.intermediateSize(), c.vocabSize(), result.nodes(),
                    result.format() == ImportFormat.GENAI ? " (onnxruntime-genai layout, genai_config.json)" : " (onnx layout: standard operators)",
                    result.weightBytes() / 1048576.0, result.externalData() ? " in model.onnx.data" : ""));
            if (result.quantisedProjections() > 0) {
                err.println(String.format("weights %s: %d projections as MatMulNBits, %d requantised (worst relative RMS error %.4f)%s",
                        result.weights().label(), result.quantisedProjections(), result.requantised(),
                        result.worstRequantisationError(), options.int8Activations() ? "; int8 activations (accuracy_level 4)" : ""));
            }
        }
        out.flush();
        err.flush();
        return Main.OK;
    }

    /** Parses auto|onnx|genai, naming the choices when the value is none of them. */
    static final class FormatConverter implements picocli.CommandLine.ITypeConverter<ImportFormat> {
        @Override
        public ImportFormat convert(String value) {
            return byLabel(value, ImportFormat.values(), ImportFormat::label);
        }
    }

    /** Parses f32|int8|int4|keep, naming the choices when the value is none of them. */
    static final class WeightFormatConverter implements picocli.CommandLine.ITypeConverter<WeightFormat> {
        @Override
        public WeightFormat convert(String value) {
            return byLabel(value, new WeightFormat[] {WeightFormat.F32, WeightFormat.INT8, WeightFormat.INT4, WeightFormat.KEEP},
                    WeightFormat::label);
        }
    }

    /** The choice whose label is {@code value}, else a conversion error listing the labels in order. */
    private static <E> E byLabel(String value, E[] choices, java.util.function.Function<E, String> label) {
        for (E choice : choices) {
            if (label.apply(choice).equals(value)) {
                return choice;
            }
        }
        throw new picocli.CommandLine.TypeConversionException("expected one of " + String.join(", ",
                java.util.Arrays.stream(choices).map(label).toList()) + " but found '" + value + "'");
    }
}
