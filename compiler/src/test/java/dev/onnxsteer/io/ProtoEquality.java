package dev.onnxsteer.io;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.onnxsteer.proto.ModelProto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Compares two model files as ONNX protobuf messages, field by field through every subgraph. The only
 * difference forgiven is presence: a field set to its default value equals a field left unset (the
 * writer states {@code domain: ""} or {@code overload: ""} where an exporter left them out).
 */
final class ProtoEquality {
    private ProtoEquality() {}

    /** Where a tensor's bytes are kept: the fields an externalised copy changes while its data stays the same. */
    private static final Set<String> STORAGE = Set.of("onnx.TensorProto.raw_data", "onnx.TensorProto.external_data",
            "onnx.TensorProto.data_location");

    /** The differences between the two files, as field paths with both values; empty when they hold the same model. */
    static List<String> differences(Path expected, Path actual) throws IOException {
        List<String> out = new ArrayList<>();
        compare("model", parse(expected), parse(actual), Set.of(), out);
        return out;
    }

    /** As {@link #differences}, except where tensor data is stored (compare the data itself separately). */
    static List<String> differencesBesidesStorage(Path expected, Path actual) throws IOException {
        List<String> out = new ArrayList<>();
        compare("model", parse(expected), parse(actual), STORAGE, out);
        return out;
    }

    private static ModelProto parse(Path file) throws IOException {
        try {
            return ModelProto.parseFrom(Files.readAllBytes(file));
        } catch (InvalidProtocolBufferException e) {
            throw new IOException(file + " is not an ONNX model: " + e.getMessage(), e);
        }
    }

    private static void compare(String path, Message a, Message b, Set<String> skipped, List<String> out) {
        if (out.size() >= 10) {
            return;
        }
        if (!a.getUnknownFields().equals(b.getUnknownFields())) {
            out.add(path + ": unknown fields " + a.getUnknownFields() + " vs " + b.getUnknownFields());
        }
        for (FieldDescriptor field : a.getDescriptorForType().getFields()) {
            if (skipped.contains(field.getFullName())) {
                continue;
            }
            String at = path + "." + field.getName();
            if (field.isRepeated()) {
                int n = a.getRepeatedFieldCount(field);
                if (n != b.getRepeatedFieldCount(field)) {
                    out.add(at + ": " + n + " entries vs " + b.getRepeatedFieldCount(field));
                    continue;
                }
                for (int i = 0; i < n; i++) {
                    compareValues(at + "[" + i + "]", field, a.getRepeatedField(field, i), b.getRepeatedField(field, i),
                            skipped, out);
                }
            } else if (field.getJavaType() != FieldDescriptor.JavaType.MESSAGE || a.hasField(field) || b.hasField(field)) {
                // an unset message is its default instance; recursing into two of them would never end
                compareValues(at, field, a.getField(field), b.getField(field), skipped, out);
            }
        }
    }

    private static void compareValues(String path, FieldDescriptor field, Object a, Object b, Set<String> skipped,
            List<String> out) {
        if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
            compare(path, (Message) a, (Message) b, skipped, out);
        } else if (!a.equals(b)) {
            out.add(path + ": " + abbreviated(a) + " vs " + abbreviated(b));
        }
    }

    private static String abbreviated(Object value) {
        String text = String.valueOf(value);
        return text.length() <= 60 ? text : text.substring(0, 57) + "...";
    }
}
