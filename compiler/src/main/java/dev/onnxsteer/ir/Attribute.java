package dev.onnxsteer.ir;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** A node attribute. One record per ONNX attribute type that the compiler reads or writes. */
public sealed interface Attribute {
    record FloatAttr(float value) implements Attribute {}

    record IntAttr(long value) implements Attribute {}

    record StringAttr(byte[] value) implements Attribute {
        public static StringAttr of(String text) {
            return new StringAttr(text.getBytes(StandardCharsets.UTF_8));
        }

        public String text() {
            return new String(value, StandardCharsets.UTF_8);
        }
    }

    record TensorAttr(Tensor value) implements Attribute {}

    record GraphAttr(Graph value) implements Attribute {}

    record FloatsAttr(float[] values) implements Attribute {}

    record IntsAttr(long[] values) implements Attribute {}

    record StringsAttr(List<byte[]> values) implements Attribute {}

    record TensorsAttr(List<Tensor> values) implements Attribute {}

    record GraphsAttr(List<Graph> values) implements Attribute {}

    /**
     * Attribute kinds the compiler never interprets (sparse tensors, type protos, references to
     * function attributes), kept as the serialized AttributeProto so they round-trip unchanged.
     */
    record OpaqueAttr(byte[] attributeProto) implements Attribute {}
}
