package dev.onnxsteer.ir;

import java.util.List;
import java.util.stream.Collectors;

/** The declared type of a value: a tensor type, or a type the compiler carries without reading. */
public sealed interface ValueType {

    /** A tensor of {@code elementType}; {@code shape} is null when even the rank is unknown. */
    record Tensor(DataType elementType, List<Dim> shape) implements ValueType {
        public Tensor {
            shape = shape == null ? null : List.copyOf(shape);
        }

        public static Tensor of(DataType elementType, Dim... dims) {
            return new Tensor(elementType, List.of(dims));
        }

        public int rank() {
            return shape == null ? -1 : shape.size();
        }

        /** The last dimension when it is fixed, else -1. */
        public long lastDim() {
            if (shape == null || shape.isEmpty() || !shape.get(shape.size() - 1).isFixed()) {
                return -1;
            }
            return shape.get(shape.size() - 1).value();
        }

        @Override
        public String toString() {
            String dims = shape == null ? "?" : shape.stream().map(Dim::toString).collect(Collectors.joining(", ", "[", "]"));
            return elementType.label() + dims;
        }
    }

    /** Sequence, map, optional or sparse types, kept as their serialized TypeProto so they round-trip. */
    record Opaque(byte[] typeProto) implements ValueType {
        @Override
        public String toString() {
            return "non-tensor";
        }
    }
}
