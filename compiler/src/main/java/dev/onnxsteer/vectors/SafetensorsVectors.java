package dev.onnxsteer.vectors;

import dev.onnxsteer.io.AtomicFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.io.JsonFiles;
import dev.onnxsteer.ir.HalfFloats;
import java.io.IOException;
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

    /**
     * Reads a vector file, checking the header as strictly as the format allows: the declared header length
     * is exactly the JSON (plus the space padding writers add), the JSON is one object of tensors and a
     * {@code __metadata__} object of strings, and the tensors' {@code data_offsets} tile the data section
     * from its first byte to the file's end with no gap or overlap. A header length one off, binary after
     * the JSON, or a shifted data section therefore fails here instead of reading every float a byte askew.
     */
    public static SteeringVectors read(Path path) {
        String file = path.toString();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new BadVectorException(FileProblem.message(file, "not a safetensors file",
                        "an 8-byte header length and a JSON header", size + " bytes"));
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLength = lenBuf.getLong(0);
            if (headerLength < 2 || headerLength > MAX_HEADER || 8 + headerLength > size) {
                throw new BadVectorException(FileProblem.message(file, "safetensors header length does not fit the file",
                        "2 to " + Math.min(MAX_HEADER, size - 8) + " bytes", Long.toUnsignedString(headerLength)));
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLength);
            readFully(ch, headerBuf, 8);
            byte[] headerBytes = headerBuf.array();
            if (headerBytes[0] != '{') {
                throw new BadVectorException(FileProblem.message(file, "safetensors header does not start a JSON object",
                        "'{' at byte 8", new String(headerBytes, 0, Math.min(8, headerBytes.length), StandardCharsets.ISO_8859_1)));
            }
            JsonNode header;
            try {
                header = JsonFiles.parse(headerBytes, file + " header");
            } catch (BadInputException e) {
                throw new BadVectorException(e.getMessage(), e);
            }
            if (!header.isObject()) {
                throw new BadVectorException(FileProblem.message(file, "safetensors header is not a JSON object",
                        "an object of tensors", header.getNodeType()));
            }
            long dataStart = 8 + headerLength;
            long dataSize = size - dataStart;
            Map<String, String> strings = new LinkedHashMap<>();
            TreeMap<Integer, float[]> layers = new TreeMap<>();
            TreeMap<Long, Long> extents = new TreeMap<>();
            int hidden = -1;
            String hiddenFrom = null;
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String name = e.getKey();
                JsonNode node = e.getValue();
                if (name.equals("__metadata__")) {
                    readMetadata(file, node, strings);
                    continue;
                }
                String shown = FileProblem.printable(name);
                Matcher m = LAYER.matcher(name);
                if (!m.matches()) {
                    throw new BadVectorException(FileProblem.message(file, "unexpected tensor name",
                            "only layers.N tensors", name));
                }
                int layer = Integer.parseInt(m.group(1));
                if (!node.isObject()) {
                    throw new BadVectorException(FileProblem.message(file, "tensor " + shown + " is not described by an object",
                            "{dtype, shape, data_offsets}", node.getNodeType()));
                }
                JsonNode dtypeNode = node.path("dtype");
                String dtype = dtypeNode.isTextual() ? dtypeNode.textValue() : String.valueOf(dtypeNode);
                int width = switch (dtype) {
                    case "F32" -> 4;
                    case "F16", "BF16" -> 2;
                    case "F64" -> 8;
                    default -> throw new BadVectorException(FileProblem.message(file, "tensor " + shown + " has an unusable dtype",
                            "F32, F16, BF16 or F64", dtype));
                };
                JsonNode shape = node.path("shape");
                long n = -1;
                if (shape.isArray() && shape.size() == 1) {
                    n = integer(shape.get(0));
                } else if (shape.isArray() && shape.size() == 2 && integer(shape.get(0)) == 1) {
                    n = integer(shape.get(1));
                }
                if (n <= 0 || n > Integer.MAX_VALUE / 8) {
                    throw new BadVectorException(FileProblem.message(file, "tensor " + shown + " has an unusable shape",
                            "[hidden] or [1, hidden]", shape));
                }
                if (hidden == -1) {
                    hidden = (int) n;
                    hiddenFrom = shown;
                } else if (n != hidden) {
                    throw new BadVectorException(FileProblem.message(file, "tensor " + shown + " has another length than "
                            + hiddenFrom, hidden + " values", n + " values"));
                }
                JsonNode offsets = node.path("data_offsets");
                long begin = offsets.isArray() && offsets.size() == 2 ? integer(offsets.get(0)) : -1;
                long end = offsets.isArray() && offsets.size() == 2 ? integer(offsets.get(1)) : -1;
                if (begin < 0 || end < begin || end > dataSize) {
                    throw new BadVectorException(FileProblem.message(file, "tensor " + shown + " has data_offsets outside the data",
                            "[begin, end] within 0.." + dataSize, offsets));
                }
                if (end - begin != n * width) {
                    throw new BadVectorException(FileProblem.message(file, "tensor " + shown + " has data_offsets that do not "
                            + "match its dtype and shape", (n * width) + " bytes for " + n + " " + dtype + " values",
                            (end - begin) + " bytes"));
                }
                if (extents.put(begin, end) != null) {
                    throw new BadVectorException(FileProblem.message(file, "two tensors start at the same data offset",
                            "one tensor per byte range", "a second tensor at " + begin));
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
                    throw new BadVectorException(FileProblem.message(file, "two tensors for layer " + layer,
                            "one layers.N tensor per layer", "a second one named " + shown));
                }
            }
            if (layers.isEmpty()) {
                throw new BadVectorException(FileProblem.message(file, "no vectors", "layers.N tensors", "none"));
            }
            checkContiguous(file, extents, dataSize);
            MetadataKeys.checkHiddenSize(strings, hidden, file);
            return new SteeringVectors(hidden, layers, MetadataKeys.fromStrings(strings, null, file), file);
        } catch (NoSuchFileException e) {
            throw new BadVectorException(FileProblem.message(file, "does not exist", "a safetensors file", "nothing at that path"));
        } catch (IOException e) {
            // a directory, a file without read permission: the file named is not one we can read
            throw new BadVectorException(FileProblem.message(file, "cannot be read", "a readable safetensors file",
                    e.getMessage()), e);
        }
    }

    private static void readMetadata(String file, JsonNode node, Map<String, String> strings) {
        if (!node.isObject()) {
            throw new BadVectorException(FileProblem.message(file, "__metadata__ is not an object",
                    "an object of strings", node.getNodeType() + " " + node));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new BadVectorException(FileProblem.message(file, "__metadata__ value of "
                        + FileProblem.printable(m.getKey()) + " is not a string", "a string", m.getValue()));
            }
            strings.put(m.getKey(), m.getValue().textValue());
        }
    }

    /** The tensors' byte ranges, sorted by start, must cover {@code 0..dataSize} exactly. */
    private static void checkContiguous(String file, TreeMap<Long, Long> extents, long dataSize) {
        long expected = 0;
        for (Map.Entry<Long, Long> e : extents.entrySet()) {
            if (e.getKey() != expected) {
                throw new BadVectorException(FileProblem.message(file, "tensor data is not contiguous",
                        "a tensor starting at data offset " + expected, "one starting at " + e.getKey()));
            }
            expected = e.getValue();
        }
        if (expected != dataSize) {
            throw new BadVectorException(FileProblem.message(file, "data section does not end with the last tensor; "
                    + "the header length or the data is shifted", dataSize + " bytes of tensors after the header",
                    expected + " bytes"));
        }
    }

    /** A JSON integer as a long, or -1 for anything else (strings, fractions, numbers beyond a long). */
    private static long integer(JsonNode node) {
        return node != null && node.isIntegralNumber() && node.canConvertToLong() ? node.longValue() : -1;
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

    static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
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
