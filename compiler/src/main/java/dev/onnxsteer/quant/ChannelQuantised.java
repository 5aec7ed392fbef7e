package dev.onnxsteer.quant;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An 8-bit weight matrix {@code [rows, cols]} (rows = input features K, cols = output features N, the MatMul B
 * layout) as {@code MatMulInteger}'s B operand with its zero point, or {@code DequantizeLinear}'s input: codes
 * int8 or uint8, one scale and zero point for the whole tensor ({@code scales.length == 1}) or one per output
 * column (per channel, {@code DequantizeLinear} axis 1). Element (k, n) is {@code (code - zero_point[n]) *
 * scale[n]}.
 */
public record ChannelQuantised(int rows, int cols, boolean signed, byte[] codes, float[] scales, int[] zeroPoints) {
    public ChannelQuantised {
        if (scales.length != 1 && scales.length != cols || zeroPoints.length != scales.length) {
            throw new IllegalArgumentException("8-bit weight [" + rows + ", " + cols + "] needs 1 or " + cols
                    + " scales and as many zero points, found " + scales.length + " and " + zeroPoints.length);
        }
    }

    /**
     * The 8-bit tensors as this record: {@code codes} int8/uint8 {@code [K, N]}; {@code scale} float (null where
     * MatMulInteger's scale lives elsewhere: then 1) scalar or {@code [N]}; {@code zeroPoint} of the codes' type,
     * the same count as the scale, or null (0). Throws IllegalArgumentException naming what does not fit.
     */
    public static ChannelQuantised of(Tensor codes, Tensor scale, Tensor zeroPoint) {
        if (codes.rank() != 2 || codes.type() != DataType.INT8 && codes.type() != DataType.UINT8) {
            throw new IllegalArgumentException("8-bit weight should be int8 or uint8 of rank 2, found " + codes);
        }
        int rows = Math.toIntExact(codes.dim(0));
        int cols = Math.toIntExact(codes.dim(1));
        boolean signed = codes.type() == DataType.INT8;
        float[] scales = scale == null ? new float[] {1f} : scale.toFloats();
        int count = zeroPoint != null ? Math.toIntExact(zeroPoint.elementCount()) : scales.length;
        if (scale != null && scale.type() != DataType.FLOAT) {
            throw new IllegalArgumentException("8-bit weight scale should be float, found " + scale);
        }
        if (scale == null && count != 1) {
            scales = filled(count, 1f);
        }
        int[] zps = new int[scales.length];
        if (zeroPoint != null) {
            if (zeroPoint.type() != codes.type() || zeroPoint.elementCount() != scales.length) {
                throw new IllegalArgumentException("8-bit weight zero point should be " + scales.length + " "
                        + codes.type().label() + " values, found " + zeroPoint);
            }
            // relative reads: a tensor read from a file may start part-way into its buffer
            ByteBuffer z = zeroPoint.bytes();
            for (int i = 0; i < zps.length; i++) {
                byte b = z.get();
                zps[i] = signed ? b : b & 0xff;
            }
        }
        ByteBuffer c = codes.bytes();
        byte[] bytes = new byte[c.remaining()];
        c.get(bytes);
        return new ChannelQuantised(rows, cols, signed, bytes, scales, zps);
    }

    private static float[] filled(int n, float v) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, v);
        return out;
    }

    /** Symmetric int8 per output column, as ONNX Runtime's dynamic quantiser writes weights: scale = max|w| / 127, zero point 0. */
    public static ChannelQuantised symmetricPerColumn(float[] w, int rows, int cols) {
        return symmetricPerColumn(w, rows, cols, 127);
    }

    /**
     * Symmetric int8 per output column with codes in [-maxCode, maxCode]: 63 is ONNX Runtime's {@code reduce_range},
     * which keeps MatMulInteger from saturating on x86 CPUs without VNNI (there u8 x s8 pairs are summed in int16).
     */
    public static ChannelQuantised symmetricPerColumn(float[] w, int rows, int cols, int maxCode) {
        if (maxCode < 1 || maxCode > 127) {
            throw new IllegalArgumentException("int8 codes reach 1 to 127, found " + maxCode);
        }
        ChannelQuantised q = new ChannelQuantised(rows, cols, true, new byte[rows * cols], new float[cols], new int[cols]);
        for (int n = 0; n < cols; n++) {
            q.fit(n, w, maxCode);
        }
        return q;
    }

    public boolean perChannel() {
        return scales.length > 1;
    }

    private int channel(int n) {
        return perChannel() ? n : 0;
    }

    private int code(int i) {
        return signed ? codes[i] : codes[i] & 0xff;
    }

    /** The matrix, [rows, cols] row-major float32. */
    public float[] dequantise() {
        float[] out = new float[rows * cols];
        for (int i = 0; i < out.length; i++) {
            int c = channel(i % cols);
            out[i] = (code(i) - zeroPoints[c]) * scales[c];
        }
        return out;
    }

    /** The codes as a tensor of their type, [rows, cols]. */
    public Tensor codesTensor() {
        return bytesTensor(codes, new long[] {rows, cols});
    }

    /** The scale: a scalar when per tensor, else [cols]. */
    public Tensor scaleTensor() {
        return Tensor.ofFloats(perChannel() ? new long[] {cols} : new long[0], scales);
    }

    /** The zero point in the codes' type: a scalar when per tensor, else [cols]. */
    public Tensor zeroPointTensor() {
        byte[] z = new byte[zeroPoints.length];
        for (int i = 0; i < z.length; i++) {
            z[i] = (byte) zeroPoints[i];
        }
        return bytesTensor(z, perChannel() ? new long[] {cols} : new long[0]);
    }

    private Tensor bytesTensor(byte[] bytes, long[] dims) {
        return new Tensor(signed ? DataType.INT8 : DataType.UINT8, dims,
                new Tensor.Inline(ByteBuffer.wrap(bytes.clone()).order(ByteOrder.LITTLE_ENDIAN)));
    }

    /**
     * {@code edited} ([rows, cols]) in this matrix's scheme and layout: a channel whose values still fit its scale
     * and zero point keeps them (unedited channels keep their codes bit for bit); any other channel gets a scale
     * that holds its new values around its zero point, which is kept. A per-tensor weight is one channel.
     */
    public Requantised requantise(float[] edited) {
        if (edited.length != rows * cols) {
            throw new IllegalArgumentException("requantising " + edited.length + " values into a [" + rows + ", "
                    + cols + "] matrix");
        }
        ChannelQuantised q = new ChannelQuantised(rows, cols, signed, new byte[codes.length], scales.clone(),
                zeroPoints.clone());
        int range = symmetricRange();
        for (int c = 0; c < scales.length; c++) {
            if (!q.encode(c, edited)) {
                q.fit(c, edited, range);
            }
        }
        float[] scaleOf = new float[rows * cols];
        for (int i = 0; i < scaleOf.length; i++) {
            scaleOf[i] = q.scales[q.channel(i % cols)];
        }
        return new Requantised(q, RequantisationError.of(edited, q.dequantise(), scaleOf));
    }

    /** This matrix requantised and how far it is from the values asked for. */
    public record Requantised(ChannelQuantised weights, RequantisationError error) {}

    /**
     * The largest |code| of a symmetric matrix, at least 1: a refit channel stays in the range the file's quantiser
     * chose (a {@code reduce_range} file's 7 bits must not grow to 8, see {@link #symmetricPerColumn(float[], int, int, int)}).
     */
    private int symmetricRange() {
        int max = 1;
        for (byte b : codes) {
            max = Math.max(max, Math.abs((int) b)); // read only where the codes are int8 with zero point 0
        }
        return Math.min(max, 127);
    }

    private int low() {
        return signed ? -128 : 0;
    }

    private int high() {
        return signed ? 127 : 255;
    }

    /** Encodes channel {@code c} (every column when per tensor) at its scale; false when a value needed clamping. */
    private boolean encode(int c, float[] w) {
        boolean fits = true;
        float scale = scales[c];
        for (int i = 0; i < codes.length; i++) {
            if (channel(i % cols) != c) {
                continue;
            }
            int q = scale == 0 ? zeroPoints[c] : Math.round(w[i] / scale) + zeroPoints[c];
            if (q < low() || q > high() || scale == 0 && w[i] != 0) {
                fits = false;
                q = Math.max(low(), Math.min(high(), q));
            }
            codes[i] = (byte) q;
        }
        return fits;
    }

    /** A scale for channel {@code c} that holds its values around the kept zero point (max|w| / symmetricMax when symmetric), then its codes. */
    private void fit(int c, float[] w, int symmetricMax) {
        float max = 0;
        float min = 0;
        for (int i = 0; i < codes.length; i++) {
            if (channel(i % cols) == c) {
                max = Math.max(max, w[i]);
                min = Math.min(min, w[i]);
            }
        }
        int zp = zeroPoints[c];
        boolean symmetric = signed && zp == 0;
        int up = symmetric ? symmetricMax : Math.max(1, high() - zp);
        int down = symmetric ? symmetricMax : Math.max(1, zp - low());
        scales[c] = (float) Math.max(max / (double) up, -min / (double) down);
        encode(c, w);
    }
}
