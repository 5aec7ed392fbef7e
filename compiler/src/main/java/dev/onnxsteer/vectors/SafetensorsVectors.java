package dev.onnxsteer.vectors;

import dev.onnxsteer.io.AtomicFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.ir.HalfFloats;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Steering vectors in safetensors: an 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {@code dtype}, {@code shape} and {@code data_offsets} (relative to the data after the header) plus
 * a {@code __metadata__} map of strings, then the data. Tensors are {@code layers.N} (N the 0-based layer),
 * shape {@code [hidden]}; our metadata is in {@code __metadata__} under the same {@code onnx_steer.*} keys as
 * in GGUF. Written as F32; read from F32, F16, BF16 or F64 (shape {@code [hidden]} or {@code [1, hidden]}).
 */
public final class SafetensorsVectors {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LAYER = Pattern.compile("layers\\.(\\d{1,9})");
    private static final long MAX_HEADER = 100L << 20;

    private SafetensorsVectors() {}

    public static SteeringVectors read(Path path) {
        String file = path.toString();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new BadVectorException(file + " is not a safetensors file: " + size + " bytes, expected at least an 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLength = lenBuf.getLong(0);
            if (headerLength < 2 || headerLength > MAX_HEADER || 8 + headerLength > size) {
                throw new BadVectorException(file + " is not a safetensors file: header length " + headerLength
                        + " does not fit a file of " + size + " bytes");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLength);
            readFully(ch, headerBuf, 8);
            JsonNode header;
            try {
                header = JSON.readTree(new String(headerBuf.array(), StandardCharsets.UTF_8));
            } catch (JsonProcessingException e) {
                throw new BadVectorException(file + " has a safetensors header that is not JSON: " + e.getOriginalMessage());
            }
            if (header == null || !header.isObject()) {
                throw new BadVectorException(file + " has a safetensors header that is not a JSON object");
            }
            long dataStart = 8 + headerLength;
            long dataSize = size - dataStart;
            Map<String, String> strings = new LinkedHashMap<>();
            TreeMap<Integer, float[]> layers = new TreeMap<>();
            int hidden = -1;
            String hiddenFrom = null;
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String name = e.getKey();
                JsonNode node = e.getValue();
                if (name.equals("__metadata__")) {
                    node.fields().forEachRemaining(m -> strings.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                Matcher m = LAYER.matcher(name);
                if (!m.matches()) {
                    throw new BadVectorException(file + " has tensor " + name + "; expected only layers.N tensors");
                }
                int layer = Integer.parseInt(m.group(1));
                String dtype = node.path("dtype").asText("");
                int width = switch (dtype) {
                    case "F32" -> 4;
                    case "F16", "BF16" -> 2;
                    case "F64" -> 8;
                    default -> throw new BadVectorException("tensor " + name + " in " + file + " has dtype " + dtype
                            + "; expected F32, F16, BF16 or F64");
                };
                JsonNode shape = node.path("shape");
                long n = -1;
                if (shape.isArray() && shape.size() == 1) {
                    n = shape.get(0).asLong(-1);
                } else if (shape.isArray() && shape.size() == 2 && shape.get(0).asLong(-1) == 1) {
                    n = shape.get(1).asLong(-1);
                }
                if (n <= 0 || n > Integer.MAX_VALUE / 8) {
                    throw new BadVectorException("tensor " + name + " in " + file + " has shape " + shape + "; expected [hidden]");
                }
                if (hidden == -1) {
                    hidden = (int) n;
                    hiddenFrom = name;
                } else if (n != hidden) {
                    throw new BadVectorException("tensor " + name + " in " + file + " has " + n + " values but " + hiddenFrom + " has " + hidden);
                }
                JsonNode offsets = node.path("data_offsets");
                long begin = offsets.path(0).asLong(-1);
                long end = offsets.path(1).asLong(-1);
                if (!offsets.isArray() || offsets.size() != 2 || begin < 0 || end < begin || end > dataSize) {
                    throw new BadVectorException("tensor " + name + " in " + file + " has data_offsets " + offsets
                            + " outside the " + dataSize + " data bytes");
                }
                if (end - begin != n * width) {
                    throw new BadVectorException("tensor " + name + " in " + file + " has " + (end - begin)
                            + " data bytes; expected " + (n * width) + " for " + n + " " + dtype + " values");
                }
                ByteBuffer data = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
                readFully(ch, data, dataStart + begin);
                float[] values = new float[(int) n];
                for (int i = 0; i < values.length; i++) {
                    values[i] = switch (dtype) {
                        case "F32" -> data.getFloat(4 * i);
                        case "F64" -> (float) data.getDouble(8 * i);
                        case "BF16" -> HalfFloats.fromBfloat16(data.getShort(2 * i));
                        default -> HalfFloats.fromFloat16(data.getShort(2 * i));
                    };
                }
                SteeringVectors.checkFinite(values, file, layer);
                if (layers.put(layer, values) != null) {
                    throw new BadVectorException(file + " has two tensors for layer " + layer);
                }
            }
            if (layers.isEmpty()) {
                throw new BadVectorException(file + " has no layers.N tensors");
            }
            String declared = strings.get(MetadataKeys.HIDDEN_SIZE);
            if (declared != null && !declared.equals(Integer.toString(hidden))) {
                throw new BadVectorException(file + " says " + MetadataKeys.HIDDEN_SIZE + " " + declared
                        + " but its tensors have " + hidden + " values");
            }
            return new SteeringVectors(hidden, layers, MetadataKeys.fromStrings(strings, null), file);
        } catch (NoSuchFileException e) {
            throw new BadVectorException("vector file " + file + " does not exist");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code layers.N} F32 tensors (ascending N) and our metadata; temp file, then rename. */
    public static void write(SteeringVectors vectors, Path path) {
        ObjectNode header = JSON.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        MetadataKeys.toStrings(vectors.metadata(), vectors.hiddenSize(), true).forEach(meta::put);
        Map<Integer, float[]> layers = vectors.layers();
        long offset = 0;
        long bytesPerLayer = 4L * vectors.hiddenSize();
        for (Integer layer : layers.keySet()) {
            ObjectNode t = header.putObject("layers." + layer);
            t.put("dtype", "F32");
            t.putArray("shape").add(vectors.hiddenSize());
            ArrayNode offsets = t.putArray("data_offsets");
            offsets.add(offset);
            offsets.add(offset + bytesPerLayer);
            offset += bytesPerLayer;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) / 8 * 8; // pad with spaces so the data starts 8-byte aligned
        ByteBuffer out = ByteBuffer.allocate((int) (8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded);
        out.put(json);
        for (int i = json.length; i < padded; i++) {
            out.put((byte) ' ');
        }
        for (float[] v : layers.values()) {
            for (float x : v) {
                out.putFloat(x);
            }
        }
        AtomicFiles.write(path, out.array());
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file at " + pos);
            }
            pos += n;
        }
    }
}
