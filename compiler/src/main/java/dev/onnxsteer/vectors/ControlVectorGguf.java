package dev.onnxsteer.vectors;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufWriter;
import dev.onnxsteer.io.FileProblem;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * llama.cpp / repeng control vectors: GGUF files with {@code general.architecture = controlvector},
 * {@code controlvector.model_hint} (string), {@code controlvector.layer_count} (the number of direction
 * tensors) and one F32 1-D tensor {@code direction.N} per steered layer.
 *
 * <h2>Layer numbering</h2>
 * {@code direction.N} holds the vector added to the output of block {@code N} (0-based), which is our
 * {@code resid_post.N}: the mapping is the identity, no offset. Read from llama.cpp:
 * <ul>
 *   <li>{@code common/common.cpp}, {@code common_control_vector_load_one}: parses N from the tensor name,
 *       rejects N = 0 ("invalid (zero) direction tensor layer index") and non-F32 or non-1-D tensors, and
 *       adds {@code strength * direction.N} into a flat buffer at offset {@code n_embd * (N - 1)}
 *       ("layer 1 at [0]"); {@code common_control_vector_load} sums several files into that buffer.</li>
 *   <li>{@code src/llama-adapter.cpp}, {@code llama_adapter_cvec::apply}: for {@code il = 1 .. n_layer-1}
 *       copies the buffer at offset {@code n_embd * (il - 1)} into {@code tensors[il]} ("buffer doesn't
 *       have data for layer 0, since it's never present"), so {@code tensors[il]} is {@code direction.il}.</li>
 *   <li>the llama graph ({@code src/models/llama.cpp}) calls {@code build_cvec(cur, il)} on the block output
 *       right after the FFN residual add, before naming it {@code l_out}; i.e. block {@code il}'s output.</li>
 * </ul>
 * llama.cpp therefore cannot steer block 0; writing a vector for layer 0 here is refused (llama.cpp would
 * reject the whole file). A foreign file that does contain {@code direction.0} is read as layer 0.
 *
 * <p>{@code controlvector.layer_count} is written as INT32 as llama.cpp's cvector-generator writes it
 * ({@code gguf_set_val_i32}); repeng's {@code export_gguf} writes UINT32. Neither loader reads it; we accept
 * any integer type. Our own metadata goes under {@code onnx_steer.*} string keys (hidden size as UINT32);
 * llama.cpp ignores metadata it does not know.
 */
public final class ControlVectorGguf {
    public static final String ARCHITECTURE = "controlvector";
    public static final String ARCHITECTURE_KEY = "general.architecture";
    public static final String MODEL_HINT_KEY = "controlvector.model_hint";
    public static final String LAYER_COUNT_KEY = "controlvector.layer_count";
    private static final Pattern DIRECTION = Pattern.compile("direction\\.(\\d{1,9})");

    private ControlVectorGguf() {}

    /** Reads a control vector file; {@link BadVectorException} on anything llama.cpp would refuse or we cannot use. */
    public static SteeringVectors read(Path path) {
        String file = path.toString();
        // non-finite values are refused below with the vector's own message, which has no override
        try (GgufFile gguf = GgufFile.open(path, true)) {
            GgufMetadata md = gguf.metadata();
            String arch = md.findString(ARCHITECTURE_KEY).orElse(ARCHITECTURE);
            if (!arch.equals(ARCHITECTURE)) {
                throw new BadVectorException(FileProblem.message(file, "is not a llama.cpp control vector",
                        ARCHITECTURE_KEY + " " + ARCHITECTURE, arch));
            }
            if (gguf.tensors().isEmpty()) {
                throw new BadVectorException(FileProblem.message(file, "has no vectors", "direction.N tensors", "none"));
            }
            int hidden = -1;
            String hiddenFrom = null;
            TreeMap<Integer, float[]> layers = new TreeMap<>();
            for (GgufTensorInfo t : gguf.tensors()) {
                Matcher m = DIRECTION.matcher(t.name());
                if (!m.matches()) {
                    throw new BadVectorException(FileProblem.message(file, "unexpected tensor name",
                            "only direction.N tensors", t.name()));
                }
                String tensor = "tensor " + t.name(); // the pattern above admits only printable names
                if (t.type() != GgmlType.F32) {
                    throw new BadVectorException(FileProblem.message(file, tensor + " has an unusable type", "F32", t.type()));
                }
                long[] dims = t.dims();
                for (int d = 1; d < dims.length; d++) {
                    if (dims[d] != 1) {
                        throw new BadVectorException(FileProblem.message(file, tensor + " is not a vector", "one dimension",
                                "shape " + Arrays.toString(t.shape())));
                    }
                }
                if (dims.length == 0 || dims[0] <= 0 || dims[0] > Integer.MAX_VALUE) {
                    throw new BadVectorException(FileProblem.message(file, tensor + " has an unusable length",
                            "1 to " + Integer.MAX_VALUE + " values", "shape " + Arrays.toString(t.shape())));
                }
                int n = (int) dims[0];
                if (hidden == -1) {
                    hidden = n;
                    hiddenFrom = t.name();
                } else if (n != hidden) {
                    throw new BadVectorException(FileProblem.message(file, tensor + " has another length than " + hiddenFrom,
                            hidden + " values", n + " values"));
                }
                int layer = Integer.parseInt(m.group(1));
                float[] values = gguf.readFloats(t);
                SteeringVectors.checkFinite(values, file, layer);
                float[] acc = layers.get(layer);
                if (acc == null) {
                    layers.put(layer, values);
                } else {
                    // "direction.1" and "direction.01" name the same layer; llama.cpp adds them, so do we
                    for (int i = 0; i < acc.length; i++) {
                        acc[i] += values[i];
                    }
                }
            }
            Map<String, String> ours = new LinkedHashMap<>();
            for (Map.Entry<String, GgufValue> e : md.asMap().entrySet()) {
                if (e.getKey().startsWith(MetadataKeys.PREFIX)) {
                    ours.put(e.getKey(), asString(e.getValue()));
                }
            }
            MetadataKeys.checkHiddenSize(ours, hidden, file);
            String hint = md.findString(MODEL_HINT_KEY).filter(s -> !s.isEmpty()).orElse(null);
            return new SteeringVectors(hidden, layers, MetadataKeys.fromStrings(ours, hint, file), file);
        } catch (BadModelException e) {
            throw new BadVectorException(e.getMessage(), e);
        }
    }

    /**
     * Writes vectors as a llama.cpp control vector: {@code direction.L} for each layer L (ascending),
     * metadata as described in the class comment. Vectors for a site other than {@code resid_post} are
     * written too, with {@code onnx_steer.site} saying so, but llama.cpp ignores that key and adds every
     * direction at the block output.
     *
     * @throws BadVectorException for a vector at layer 0, which llama.cpp cannot load
     */
    public static void write(SteeringVectors vectors, Path path) {
        if (vectors.hasLayer(0)) {
            throw new BadVectorException("layer 0 cannot be written to the control vector " + path
                    + ": llama.cpp rejects direction.0 (block 0 cannot be steered there); write .safetensors instead");
        }
        VectorMetadata m = vectors.metadata();
        GgufWriter writer = new GgufWriter()
                .put(ARCHITECTURE_KEY, GgufValue.string(ARCHITECTURE))
                .put(MODEL_HINT_KEY, GgufValue.string(m.modelHint() == null ? "" : m.modelHint()))
                .put(LAYER_COUNT_KEY, GgufValue.int32(vectors.layerIndices().size()));
        for (Map.Entry<String, String> e : MetadataKeys.toStrings(m, vectors.hiddenSize(), false).entrySet()) {
            if (e.getKey().equals(MetadataKeys.HIDDEN_SIZE)) {
                writer.put(e.getKey(), GgufValue.uint32(vectors.hiddenSize()));
            } else {
                writer.put(e.getKey(), GgufValue.string(e.getValue()));
            }
        }
        for (Map.Entry<Integer, float[]> e : vectors.layers().entrySet()) {
            writer.addTensor("direction." + e.getKey(), new long[] {vectors.hiddenSize()}, e.getValue());
        }
        writer.write(path);
    }

    private static String asString(GgufValue value) {
        if (value instanceof GgufValue.Str s) {
            return s.value();
        }
        if (value instanceof GgufValue.Int i) {
            return Long.toString(i.value());
        }
        if (value instanceof GgufValue.Real r) {
            return Double.toString(r.value());
        }
        if (value instanceof GgufValue.Bool b) {
            return Boolean.toString(b.value());
        }
        return value.toString();
    }
}
