package dev.onnxsteer.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.io.JsonFiles;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.sites.SiteNames;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A sparse-autoencoder feature as a steering vector: row {@code FEATURE} of the decoder {@code W_dec} of a
 * SAELens directory ({@code cfg.json} with {@code d_in}, {@code d_sae}, {@code hook_name}, and
 * {@code sae_weights.safetensors}), as Neuronpedia and SAELens steer with it. SAELens stores
 * {@code W_dec} as {@code [d_sae, d_in]}; a {@code [d_in, d_sae]} matrix (a transposed export) is read by
 * column, and a square one is taken in the SAELens orientation. The hook name says the site and layer
 * ({@code blocks.L.hook_resid_pre|hook_resid_mid|hook_resid_post|hook_attn_out|hook_mlp_out}). Only the
 * one row is read from the file, so a 16k-feature SAE costs {@code d_in} floats.
 *
 * <p>Spec on the command line: {@code sae:DIR#FEATURE}, or {@code sae:DIR#FEATURE,unit} for the row scaled
 * to unit length (SAELens decoder rows are usually unit already; Neuronpedia's steering normalises).
 */
public final class SaeFeatures {
    public static final String PREFIX = "sae:";
    public static final String CONFIG = "cfg.json";
    public static final String WEIGHTS = "sae_weights.safetensors";
    public static final String DECODER = "W_dec";
    private static final Pattern SPEC = Pattern.compile("sae:(.+)#(-?\\d{1,10})(,unit)?");
    private static final long MAX_HEADER = 100L << 20;

    private SaeFeatures() {}

    /** A parsed {@code sae:DIR#FEATURE[,unit]}. */
    public record Spec(Path directory, int feature, boolean unit) {
        public String text() {
            return PREFIX + directory + "#" + feature + (unit ? ",unit" : "");
        }
    }

    public static boolean isSpec(String text) {
        return text.startsWith(PREFIX);
    }

    /** @throws IllegalArgumentException for a spec that is not {@code sae:DIR#FEATURE[,unit]} (a usage error) */
    public static Spec parse(String text) {
        Matcher m = SPEC.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("SAE feature " + FileProblem.printable(text)
                    + " is not sae:DIR#FEATURE or sae:DIR#FEATURE,unit");
        }
        return new Spec(Path.of(m.group(1)), Integer.parseInt(m.group(2)), m.group(3) != null);
    }

    public static SteeringVectors read(String spec) {
        return read(parse(spec));
    }

    /**
     * The feature's decoder row as a one-layer vector at the hook's site.
     *
     * @throws BadInputException for a missing or malformed {@code cfg.json}, an unknown hook, a decoder whose
     *     shape does not fit {@code d_in}/{@code d_sae}, or a feature outside {@code 0..d_sae-1}
     */
    public static SteeringVectors read(Spec spec) {
        Config config = config(spec.directory());
        if (spec.feature() < 0 || spec.feature() >= config.dSae()) {
            throw new BadVectorException(FileProblem.message(spec.directory(), "has no feature " + spec.feature(),
                    "a feature in 0.." + (config.dSae() - 1) + " (d_sae " + config.dSae() + ")", spec.feature()));
        }
        float[] row = decoderRow(spec.directory().resolve(WEIGHTS), config.dIn(), config.dSae(), spec.feature());
        if (spec.unit()) {
            row = unit(row, spec);
        }
        VectorMetadata metadata = VectorMetadata.defaults().withSite(config.site().kind().label()).withMethod("sae_decoder")
                .withExtra("sae_hook_name", config.hookName())
                .withExtra("sae_feature", Integer.toString(spec.feature()))
                .withExtra("sae_normalised", Boolean.toString(spec.unit()));
        return new SteeringVectors(config.dIn(), Map.of(config.site().layer(), row), metadata, spec.text());
    }

    /**
     * What a SAELens directory's {@code cfg.json} says about its decoder: {@code d_in} values per feature,
     * {@code d_sae} features, and the hook (site and layer) the features belong to.
     */
    public record Config(int dIn, int dSae, String hookName, SiteNames.SiteName site) {}

    /**
     * Reads {@code cfg.json} of a SAELens directory (not the weights).
     *
     * @throws BadInputException for a missing or malformed {@code cfg.json} or a hook onnx-steer cannot steer
     */
    public static Config config(Path directory) {
        Path cfgFile = directory.resolve(CONFIG);
        JsonNode cfg = JsonFiles.read(cfgFile);
        int dIn = positive(cfg, "d_in", cfgFile);
        int dSae = positive(cfg, "d_sae", cfgFile);
        JsonNode hookNode = cfg.path("hook_name");
        if (!hookNode.isTextual()) {
            throw new BadVectorException(FileProblem.message(cfgFile, "has no hook_name", "a TransformerLens hook name such as "
                    + "blocks.3.hook_resid_post", hookNode.isMissingNode() ? "none" : hookNode.toString()));
        }
        return new Config(dIn, dSae, hookNode.textValue(), hookSite(cfgFile, hookNode.textValue()));
    }

    private static SiteNames.SiteName hookSite(Path cfgFile, String hook) {
        SiteNames.SiteName name;
        try {
            name = SiteNames.parse(hook);
        } catch (RuntimeException e) {
            name = null;
        }
        if (name == null || name.form() != SiteNames.Form.TRANSFORMER_LENS || !name.hasLayer()) {
            throw new BadVectorException(FileProblem.message(cfgFile, "hook_name is not a hook onnx-steer can steer",
                    "blocks.L.hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out or hook_mlp_out", hook));
        }
        return name;
    }

    private static int positive(JsonNode cfg, String key, Path file) {
        JsonNode node = cfg.path(key);
        if (!node.isIntegralNumber() || !node.canConvertToInt() || node.intValue() <= 0) {
            throw new BadVectorException(FileProblem.message(file, "has no usable " + key, "a positive integer",
                    node.isMissingNode() ? "none" : node.toString()));
        }
        return node.intValue();
    }

    private static float[] unit(float[] row, Spec spec) {
        double norm = 0;
        for (float x : row) {
            norm += (double) x * x;
        }
        if (norm == 0) {
            throw new BadVectorException(FileProblem.message(spec.text(), "decoder row is zero and cannot be made unit length"));
        }
        float[] out = new float[row.length];
        double scale = 1 / Math.sqrt(norm);
        for (int i = 0; i < row.length; i++) {
            out[i] = (float) (row[i] * scale);
        }
        return out;
    }

    /** Reads {@code W_dec}'s header entry and then only the values of one feature. */
    private static float[] decoderRow(Path file, long dIn, long dSae, int feature) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            if (size < 8) {
                throw new BadVectorException(FileProblem.message(file, "is not a safetensors file", "an 8-byte header length",
                        size + " bytes"));
            }
            SafetensorsVectors.readFully(ch, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength < 2 || headerLength > MAX_HEADER || 8 + headerLength > size) {
                throw new BadVectorException(FileProblem.message(file, "safetensors header length does not fit the file",
                        "2 to " + Math.min(MAX_HEADER, size - 8) + " bytes", Long.toUnsignedString(headerLength)));
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            SafetensorsVectors.readFully(ch, headerBytes, 8);
            JsonNode tensor = JsonFiles.parse(headerBytes.array(), file + " header").path(DECODER);
            if (!tensor.isObject()) {
                throw new BadVectorException(FileProblem.message(file, "has no " + DECODER + " tensor", "the SAE decoder "
                        + DECODER + " [d_sae, d_in]", "none"));
            }
            String dtype = tensor.path("dtype").asText();
            int width = switch (dtype) {
                case "F32" -> 4;
                case "F16", "BF16" -> 2;
                case "F64" -> 8;
                default -> throw new BadVectorException(FileProblem.message(file, DECODER + " has an unusable dtype",
                        "F32, F16, BF16 or F64", dtype));
            };
            JsonNode shape = tensor.path("shape");
            long rows = shape.size() == 2 ? shape.get(0).asLong(-1) : -1;
            long cols = shape.size() == 2 ? shape.get(1).asLong(-1) : -1;
            boolean byRow = rows == dSae && cols == dIn;
            if (!byRow && !(rows == dIn && cols == dSae)) {
                throw new BadVectorException(FileProblem.message(file, DECODER + " does not fit cfg.json's d_sae " + dSae
                        + " and d_in " + dIn, "shape [" + dSae + ", " + dIn + "]", shape));
            }
            JsonNode offsets = tensor.path("data_offsets");
            long begin = offsets.size() == 2 ? offsets.get(0).asLong(-1) : -1;
            long end = offsets.size() == 2 ? offsets.get(1).asLong(-1) : -1;
            long dataStart = 8 + headerLength;
            if (begin < 0 || end - begin != rows * cols * width || dataStart + end > size) {
                throw new BadVectorException(FileProblem.message(file, DECODER + " has data_offsets that do not fit its "
                        + "shape or the file", (rows * cols * width) + " bytes within the file", offsets));
            }
            float[] row = new float[(int) dIn];
            if (byRow) {
                ByteBuffer data = ByteBuffer.allocate((int) (dIn * width)).order(ByteOrder.LITTLE_ENDIAN);
                SafetensorsVectors.readFully(ch, data, dataStart + begin + feature * dIn * width);
                for (int i = 0; i < row.length; i++) {
                    row[i] = value(data, i * width, dtype);
                }
            } else {
                ByteBuffer one = ByteBuffer.allocate(width).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < row.length; i++) {
                    one.clear();
                    SafetensorsVectors.readFully(ch, one, dataStart + begin + ((long) i * dSae + feature) * width);
                    row[i] = value(one, 0, dtype);
                }
            }
            SteeringVectors.checkFinite(row, file.toString(), feature);
            return row;
        } catch (NoSuchFileException e) {
            throw new BadVectorException(FileProblem.message(file, "does not exist", "the SAE weights beside cfg.json",
                    "nothing at that path"));
        } catch (IOException e) {
            throw new BadVectorException(FileProblem.message(file, "cannot be read", "a readable safetensors file",
                    e.getMessage()), e);
        } catch (BadInputException e) {
            throw e instanceof BadVectorException bad ? bad : new BadVectorException(e.getMessage(), e);
        }
    }

    private static float value(ByteBuffer data, int at, String dtype) {
        return switch (dtype) {
            case "F32" -> data.getFloat(at);
            case "F64" -> (float) data.getDouble(at);
            case "BF16" -> HalfFloats.fromBfloat16(data.getShort(at));
            default -> HalfFloats.fromFloat16(data.getShort(at));
        };
    }
}
