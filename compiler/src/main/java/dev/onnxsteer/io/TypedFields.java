package dev.onnxsteer.io;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.proto.TensorProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Converts TensorProto's typed repeated fields (float_data, int32_data, ...) to raw little-endian bytes. */
final class TypedFields {
    private TypedFields() {}

    static ByteBuffer toBytes(TensorProto proto, DataType type) {
        ByteBuffer out;
        switch (type) {
            case FLOAT -> {
                out = allocate(proto.getFloatDataCount() * 4L);
                proto.getFloatDataList().forEach(out::putFloat);
            }
            case COMPLEX64 -> {
                out = allocate(proto.getFloatDataCount() * 4L);
                proto.getFloatDataList().forEach(out::putFloat);
            }
            case DOUBLE, COMPLEX128 -> {
                out = allocate(proto.getDoubleDataCount() * 8L);
                proto.getDoubleDataList().forEach(out::putDouble);
            }
            case INT64 -> {
                out = allocate(proto.getInt64DataCount() * 8L);
                proto.getInt64DataList().forEach(out::putLong);
            }
            case UINT64 -> {
                out = allocate(proto.getUint64DataCount() * 8L);
                proto.getUint64DataList().forEach(out::putLong);
            }
            case UINT32 -> {
                out = allocate(proto.getUint64DataCount() * 4L);
                proto.getUint64DataList().forEach(v -> out.putInt((int) (long) v));
            }
            case INT32 -> {
                out = allocate(proto.getInt32DataCount() * 4L);
                proto.getInt32DataList().forEach(out::putInt);
            }
            case INT16, UINT16, FLOAT16, BFLOAT16 -> {
                out = allocate(proto.getInt32DataCount() * 2L);
                proto.getInt32DataList().forEach(v -> out.putShort((short) (int) v));
            }
            case INT8, UINT8, BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0 -> {
                out = allocate(proto.getInt32DataCount());
                proto.getInt32DataList().forEach(v -> out.put((byte) (int) v));
            }
            default -> {
                // 4-bit and 2-bit types pack several elements into each int32_data entry's low byte.
                out = allocate(proto.getInt32DataCount());
                proto.getInt32DataList().forEach(v -> out.put((byte) (int) v));
            }
        }
        out.flip();
        return out;
    }

    private static ByteBuffer allocate(long bytes) {
        return ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
    }
}
