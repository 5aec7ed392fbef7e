package dev.onnxsteer.quant;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A weight matrix {@code [rows, cols]} (rows = output features N, cols = input features K) in the layout of
 * ONNX Runtime's {@code com.microsoft.MatMulBnb4} (bitsandbytes' 4-bit formats, Optimum's and transformers.js'
 * {@code model_bnb4.onnx}): the matrix, flattened row-major, is cut into blocks of {@code blockSize} consecutive
 * elements (a block may run on into the next row; the last one may be short), each with its largest magnitude
 * {@code absmax}; element i is {@code codebook[code_i] * absmax[i / blockSize]}, rounded to float32 once. Codes
 * are packed two to a byte, the even element in the high nibble: {@code packed} has {@code (rows * cols + 1) / 2}
 * bytes.
 */
public record Bnb4Blocks(int rows, int cols, Codebook codebook, int blockSize, byte[] packed, float[] absmax) {

    /** The 16 values a code stands for, as fractions of the block's absmax; {@code quant_type} 0 and 1. */
    public enum Codebook {
        /** bitsandbytes' 4-bit float (sign, 2 exponent bits with bias 3, 1 mantissa bit), normalised by 12. */
        FP4(new float[] {0f, 5.208333333e-03f, 0.66666667f, 1f, 0.33333333f, 0.5f, 0.16666667f, 0.25f,
                -0f, -5.208333333e-03f, -0.66666667f, -1f, -0.33333333f, -0.5f, -0.16666667f, -0.25f}),
        /** NormalFloat 4: quantiles of a standard normal, scaled to [-1, 1] with an exact 0 (QLoRA). */
        NF4(new float[] {-1f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0f, 0.07958029955625534f,
                0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f,
                0.5626170039176941f, 0.7229568362236023f, 1f});

        private final float[] values;

        Codebook(float[] values) {
            this.values = values;
        }

        public float value(int code) {
            return values[code];
        }

        /** MatMulBnb4's {@code quant_type}: 0 FP4, 1 NF4. */
        public static Codebook of(long quantType) {
            if (quantType == 0) {
                return FP4;
            }
            if (quantType == 1) {
                return NF4;
            }
            throw new IllegalArgumentException("MatMulBnb4 quant_type must be 0 (FP4) or 1 (NF4), found " + quantType);
        }

        public long quantType() {
            return ordinal();
        }

        /** The code whose value is nearest {@code x} (a value over absmax, in [-1, 1]). */
        int nearest(float x) {
            int best = 0;
            for (int c = 1; c < values.length; c++) {
                if (Math.abs(values[c] - x) < Math.abs(values[best] - x)) {
                    best = c;
                }
            }
            return best;
        }
    }

    public Bnb4Blocks {
        if (blockSize < 16 || blockSize > 256 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("MatMulBnb4 block_size must be 16, 32, 64, 128 or 256, found " + blockSize);
        }
    }

    public int elements() {
        return rows * cols;
    }

    public int blocks() {
        return (elements() + blockSize - 1) / blockSize;
    }

    /** {@code w} ([rows, cols] row-major) in blocks: each block's absmax, each element the nearest code. */
    public static Bnb4Blocks quantise(float[] w, int rows, int cols, Codebook codebook, int blockSize) {
        Bnb4Blocks q = new Bnb4Blocks(rows, cols, codebook, blockSize, new byte[(rows * cols + 1) / 2],
                new float[(rows * cols + blockSize - 1) / blockSize]);
        for (int b = 0; b < q.blocks(); b++) {
            q.fit(b, w);
        }
        return q;
    }

    /**
     * MatMulBnb4's initializers as this record: {@code b} uint8 {@code [(N*K+1)/2]}, {@code absmax} float
     * {@code [ceil(N*K / block_size)]}. Throws IllegalArgumentException naming what differs from the layout the
     * attributes imply.
     */
    public static Bnb4Blocks of(Tensor b, Tensor absmax, long k, long n, long blockSize, long quantType) {
        int rows = Math.toIntExact(n);
        int cols = Math.toIntExact(k);
        Codebook codebook = Codebook.of(quantType);
        long bytes = ((long) rows * cols + 1) / 2;
        if (b.type() != DataType.UINT8 || b.elementCount() != bytes) {
            throw new IllegalArgumentException("MatMulBnb4 B should be " + bytes + " uint8 values for N " + n + ", K "
                    + k + ", found " + b);
        }
        long blocks = ((long) rows * cols + blockSize - 1) / blockSize;
        if (absmax.type() != DataType.FLOAT && absmax.type() != DataType.FLOAT16 || absmax.elementCount() != blocks) {
            throw new IllegalArgumentException("MatMulBnb4 absmax should be " + blocks + " float values (block_size "
                    + blockSize + "), found " + absmax);
        }
        ByteBuffer buffer = b.bytes();
        byte[] packed = new byte[buffer.remaining()];
        buffer.get(packed);
        return new Bnb4Blocks(rows, cols, codebook, Math.toIntExact(blockSize), packed, absmax.toFloats());
    }

    /** B as MatMulBnb4 reads it. */
    public Tensor packedTensor() {
        return new Tensor(DataType.UINT8, new long[] {packed.length},
                new Tensor.Inline(ByteBuffer.wrap(packed.clone()).order(ByteOrder.LITTLE_ENDIAN)));
    }

    /** The absmax values in {@code type} (the activations' type). */
    public Tensor absmaxTensor(DataType type) {
        return Tensor.ofFloats(type, new long[] {absmax.length}, absmax);
    }

    /** The matrix as MatMulBnb4 dequantises it, [rows, cols] row-major float32. */
    public float[] dequantise() {
        float[] out = new float[elements()];
        for (int i = 0; i < out.length; i++) {
            out[i] = codebook.value(code(i)) * absmax[i / blockSize];
        }
        return out;
    }

    /**
     * {@code edited} ([rows, cols], float32) in this codebook and block layout: a block whose values are unchanged
     * keeps its codes; a block whose values all stay within its absmax keeps the absmax and takes the nearest
     * codes; any other block is refitted to its new largest magnitude.
     */
    public Requantised requantise(float[] edited) {
        if (edited.length != elements()) {
            throw new IllegalArgumentException("requantising " + edited.length + " values into a [" + rows + ", "
                    + cols + "] matrix");
        }
        float[] current = dequantise();
        Bnb4Blocks q = new Bnb4Blocks(rows, cols, codebook, blockSize, packed.clone(), absmax.clone());
        for (int b = 0; b < blocks(); b++) {
            int start = b * blockSize;
            int end = Math.min(elements(), start + blockSize);
            if (Arrays.equals(edited, start, end, current, start, end)) {
                continue;
            }
            float largest = 0;
            for (int i = start; i < end; i++) {
                largest = Math.max(largest, Math.abs(edited[i]));
            }
            if (largest <= absmax[b] && absmax[b] > 0) {
                q.encode(b, edited);
            } else {
                q.fit(b, edited);
            }
        }
        float[] scaleOf = new float[elements()];
        for (int i = 0; i < scaleOf.length; i++) {
            scaleOf[i] = q.absmax[i / blockSize];
        }
        return new Requantised(q, RequantisationError.of(edited, q.dequantise(), scaleOf));
    }

    /** This matrix requantised and how far it is from the values asked for. */
    public record Requantised(Bnb4Blocks blocks, RequantisationError error) {}

    private int code(int i) {
        int v = packed[i / 2] & 0xff;
        return i % 2 == 0 ? v >>> 4 : v & 0x0f;
    }

    private void setCode(int i, int code) {
        int v = packed[i / 2] & 0xff;
        packed[i / 2] = (byte) (i % 2 == 0 ? (v & 0x0f) | code << 4 : (v & 0xf0) | code);
    }

    private void fit(int b, float[] w) {
        float largest = 0;
        for (int i = b * blockSize; i < Math.min(elements(), (b + 1) * blockSize); i++) {
            largest = Math.max(largest, Math.abs(w[i]));
        }
        absmax[b] = largest;
        encode(b, w);
    }

    /** Each element of block {@code b} as the code nearest its value over the block's absmax. */
    private void encode(int b, float[] w) {
        float reciprocal = absmax[b] == 0 ? 0 : 1f / absmax[b];
        for (int i = b * blockSize; i < Math.min(elements(), (b + 1) * blockSize); i++) {
            setCode(i, codebook.nearest(w[i] * reciprocal));
        }
    }
}
