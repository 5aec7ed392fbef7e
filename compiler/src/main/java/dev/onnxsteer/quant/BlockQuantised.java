package dev.onnxsteer.quant;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.ir.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A weight matrix {@code [rows, cols]} (rows = output features N, cols = input features K) in the layout of
 * ONNX Runtime's {@code com.microsoft.MatMulNBits}: {@code packed} is {@code [N, ceil(K / blockSize), blockSize *
 * bits / 8]} uint8 with codes packed low bits first along K (a last block shorter than {@code blockSize} is
 * padded with code 0 bits that never meet an input), {@code scales} is {@code [N * blocksPerRow]}, and
 * {@code zeroPoints} is null (the default zero point 2^(bits-1), the symmetric scheme) or {@code [N *
 * ceil(blocksPerRow * bits / 8)]} uint8, zero points packed the same way per row. Element (n, k) is {@code
 * (code - zero_point) * scale}.
 */
public record BlockQuantised(int rows, int cols, int bits, int blockSize, byte[] packed, float[] scales,
        byte[] zeroPoints) {
    /** The block size of the GGUF legacy quants and of the onnxruntime-genai builder's default. */
    public static final int BLOCK = 32;

    public BlockQuantised {
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("MatMulNBits bits must be 2, 4 or 8, found " + bits);
        }
        if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("MatMulNBits block_size must be a power of 2 from 16, found " + blockSize);
        }
    }

    /** A matrix in blocks of {@link #BLOCK}. */
    public BlockQuantised(int rows, int cols, int bits, byte[] packed, float[] scales, byte[] zeroPoints) {
        this(rows, cols, bits, BLOCK, packed, scales, zeroPoints);
    }

    public int blocksPerRow() {
        return (cols + blockSize - 1) / blockSize;
    }

    /** Bytes of one block's codes. */
    public int blobBytes() {
        return blockSize * bits / 8;
    }

    public int zeroPointBytesPerRow() {
        return (blocksPerRow() * bits + 7) / 8;
    }

    public boolean symmetric() {
        return zeroPoints == null;
    }

    /**
     * GGUF Q4_0 blocks (fp16 d, 16 bytes: element j in the low nibble of byte j, element j + 16 in the high
     * nibble) as 4-bit codes with the default zero point 8: (q - 8) * d is ggml's value exactly.
     */
    public static BlockQuantised fromQ4_0(ByteBuffer raw, int rows, int cols) {
        int blocks = rows * (cols / BLOCK);
        byte[] packed = new byte[blocks * 16];
        float[] scales = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            int base = b * 18;
            scales[b] = HalfFloats.fromFloat16(raw.getShort(base));
            for (int i = 0; i < 16; i++) {
                int lo = code4(raw, base + 2, 2 * i);
                int hi = code4(raw, base + 2, 2 * i + 1);
                packed[b * 16 + i] = (byte) (lo | hi << 4);
            }
        }
        return new BlockQuantised(rows, cols, 4, packed, scales, null);
    }

    /** Element e (0..31) of a Q4_0 block's 16 quant bytes at {@code at}. */
    private static int code4(ByteBuffer raw, int at, int e) {
        int q = raw.get(at + (e % 16)) & 0xff;
        return e < 16 ? q & 0x0f : q >>> 4;
    }

    /** GGUF Q8_0 blocks (fp16 d, 32 int8) as unsigned 8-bit codes q + 128 with the default zero point 128. */
    public static BlockQuantised fromQ8_0(ByteBuffer raw, int rows, int cols) {
        int blocks = rows * (cols / BLOCK);
        byte[] packed = new byte[blocks * 32];
        float[] scales = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            int base = b * 34;
            scales[b] = HalfFloats.fromFloat16(raw.getShort(base));
            for (int i = 0; i < 32; i++) {
                packed[b * 32 + i] = (byte) (raw.get(base + 2 + i) + 128);
            }
        }
        return new BlockQuantised(rows, cols, 8, packed, scales, null);
    }

    /** Symmetric 8-bit in blocks of 32 (the importer's scheme): scale = max|w| / 127 per block, code = round(w / scale) + 128. */
    public static BlockQuantised int8(float[] w, int rows, int cols) {
        BlockQuantised empty = empty(rows, cols, 8, BLOCK, false);
        for (int b = 0; b < rows * empty.blocksPerRow(); b++) {
            float amax = 0;
            for (int k = empty.blockStart(b); k < empty.blockEnd(b); k++) {
                amax = Math.max(amax, Math.abs(w[(b / empty.blocksPerRow()) * cols + k]));
            }
            empty.scales[b] = amax / 127f;
            empty.encodeBlock(b, w, -127, 127);
        }
        return empty;
    }

    /**
     * Asymmetric 4-bit in blocks of 32 (the importer's scheme): per block, the range [min(w, 0), max(w, 0)] over
     * 15 steps, zero point = round(-min / scale), code = clamp(round(w / scale) + zero point, 0, 15).
     */
    public static BlockQuantised int4(float[] w, int rows, int cols) {
        return asymmetric(w, rows, cols, 4, BLOCK);
    }

    /** Asymmetric {@code bits}-bit blocks: the range [min(w, 0), max(w, 0)] over 2^bits - 1 steps per block. */
    public static BlockQuantised asymmetric(float[] w, int rows, int cols, int bits, int blockSize) {
        BlockQuantised q = empty(rows, cols, bits, blockSize, true);
        for (int b = 0; b < rows * q.blocksPerRow(); b++) {
            q.fitAsymmetric(b, w);
        }
        return q;
    }

    /**
     * Symmetric {@code bits}-bit blocks as ONNX Runtime's blockwise quantiser (and the onnxruntime-genai builder's
     * default) writes them: the value of largest magnitude m of each block maps to code 0, scale = m / -2^(bits-1),
     * zero point the default 2^(bits-1).
     */
    public static BlockQuantised symmetric(float[] w, int rows, int cols, int bits, int blockSize) {
        BlockQuantised q = empty(rows, cols, bits, blockSize, false);
        for (int b = 0; b < rows * q.blocksPerRow(); b++) {
            q.fitSymmetric(b, w);
        }
        return q;
    }

    private static BlockQuantised empty(int rows, int cols, int bits, int blockSize, boolean withZeroPoints) {
        int perRow = (cols + blockSize - 1) / blockSize;
        byte[] zeroPoints = withZeroPoints ? new byte[rows * ((perRow * bits + 7) / 8)] : null;
        return new BlockQuantised(rows, cols, bits, blockSize, new byte[rows * perRow * blockSize * bits / 8],
                new float[rows * perRow], zeroPoints);
    }

    /**
     * MatMulNBits' initializers as this record: {@code b} uint8 {@code [N, blocks, blob]}, {@code scales} float or
     * float16 {@code [N * blocks]}, {@code zeroPoints} uint8 or null. Throws IllegalArgumentException naming what
     * differs from the layout the attributes {@code k}, {@code n}, {@code bits}, {@code blockSize} imply.
     */
    public static BlockQuantised of(Tensor b, Tensor scales, Tensor zeroPoints, long k, long n, long bits, long blockSize) {
        BlockQuantised shape = empty(Math.toIntExact(n), Math.toIntExact(k), (int) bits, (int) blockSize, false);
        long[] expected = {n, shape.blocksPerRow(), shape.blobBytes()};
        if (b.type() != DataType.UINT8 || b.elementCount() != (long) shape.packed.length) {
            throw new IllegalArgumentException("MatMulNBits B should be uint8 " + java.util.Arrays.toString(expected)
                    + ", found " + b);
        }
        if (scales.type() != DataType.FLOAT && scales.type() != DataType.FLOAT16
                || scales.elementCount() != shape.scales.length) {
            throw new IllegalArgumentException("MatMulNBits scales should be " + shape.scales.length
                    + " float or float16 values, found " + scales);
        }
        byte[] zp = null;
        if (zeroPoints != null) {
            int zpBytes = shape.rows * shape.zeroPointBytesPerRow();
            if (zeroPoints.type() != DataType.UINT8 || zeroPoints.elementCount() != zpBytes) {
                throw new IllegalArgumentException("MatMulNBits zero_points should be " + zpBytes
                        + " uint8 values (float zero points are not read), found " + zeroPoints);
            }
            zp = bytesOf(zeroPoints);
        }
        return new BlockQuantised(shape.rows, shape.cols, shape.bits, shape.blockSize, bytesOf(b), scales.toFloats(), zp);
    }

    private static byte[] bytesOf(Tensor t) {
        ByteBuffer buffer = t.bytes();
        byte[] out = new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    /** B as MatMulNBits reads it. */
    public Tensor packedTensor() {
        return new Tensor(DataType.UINT8, new long[] {rows, blocksPerRow(), blobBytes()}, inline(packed));
    }

    /** The scales in {@code type} (float or float16, the activations' type). */
    public Tensor scalesTensor(DataType type) {
        return Tensor.ofFloats(type, new long[] {scales.length}, scales);
    }

    /** The zero points, or null for the symmetric scheme. */
    public Tensor zeroPointsTensor() {
        return zeroPoints == null ? null
                : new Tensor(DataType.UINT8, new long[] {zeroPoints.length}, inline(zeroPoints));
    }

    private static Tensor.Inline inline(byte[] bytes) {
        return new Tensor.Inline(ByteBuffer.wrap(bytes.clone()).order(ByteOrder.LITTLE_ENDIAN));
    }

    /** The matrix as MatMulNBits defines it, [rows, cols] row-major float32. */
    public float[] dequantise() {
        float[] out = new float[rows * cols];
        for (int b = 0; b < rows * blocksPerRow(); b++) {
            int zp = zeroPoint(b);
            int row = b / blocksPerRow();
            for (int k = blockStart(b); k < blockEnd(b); k++) {
                out[row * cols + k] = (code(b, k - blockStart(b)) - zp) * scales[b];
            }
        }
        return out;
    }

    /**
     * {@code edited} ([rows, cols], float32) in this matrix's scheme, bits and block layout: a block whose values
     * still fit its scale and zero point keeps them (so unedited blocks keep their codes bit for bit); any other
     * block gets the scale (and, with zero points, the zero point) the scheme fits to its new values.
     */
    public Requantised requantise(float[] edited) {
        if (edited.length != rows * cols) {
            throw new IllegalArgumentException("requantising " + edited.length + " values into a [" + rows + ", "
                    + cols + "] matrix");
        }
        BlockQuantised q = new BlockQuantised(rows, cols, bits, blockSize, new byte[packed.length], scales.clone(),
                zeroPoints == null ? null : zeroPoints.clone());
        int top = (1 << bits) - 1;
        for (int b = 0; b < rows * blocksPerRow(); b++) {
            int zp = zeroPoint(b);
            if (!q.encodeBlock(b, edited, -zp, top - zp)) {
                if (symmetric()) {
                    q.fitSymmetric(b, edited);
                } else {
                    q.fitAsymmetric(b, edited);
                }
            }
        }
        return new Requantised(q, RequantisationError.of(edited, q.dequantise(), q.scaleOfElement()));
    }

    /** The scale each element (row-major [rows, cols]) is multiplied by. */
    private float[] scaleOfElement() {
        float[] out = new float[rows * cols];
        for (int b = 0; b < rows * blocksPerRow(); b++) {
            int row = b / blocksPerRow();
            for (int k = blockStart(b); k < blockEnd(b); k++) {
                out[row * cols + k] = scales[b];
            }
        }
        return out;
    }

    /** This matrix requantised and how far it is from the values asked for. */
    public record Requantised(BlockQuantised blocks, RequantisationError error) {}

    private int blockStart(int b) {
        return (b % blocksPerRow()) * blockSize;
    }

    private int blockEnd(int b) {
        return Math.min(cols, blockStart(b) + blockSize);
    }

    private int zeroPoint(int b) {
        if (zeroPoints == null) {
            return 1 << (bits - 1);
        }
        int bit = (b % blocksPerRow()) * bits;
        int z = zeroPoints[(b / blocksPerRow()) * zeroPointBytesPerRow() + bit / 8] & 0xff;
        return (z >>> (bit % 8)) & ((1 << bits) - 1);
    }

    private void setZeroPoint(int b, int zp) {
        int bit = (b % blocksPerRow()) * bits;
        int at = (b / blocksPerRow()) * zeroPointBytesPerRow() + bit / 8;
        int mask = ((1 << bits) - 1) << (bit % 8);
        zeroPoints[at] = (byte) ((zeroPoints[at] & ~mask) | (zp << (bit % 8)));
    }

    private int code(int b, int i) {
        int bit = i * bits;
        int v = packed[b * blobBytes() + bit / 8] & 0xff;
        return (v >>> (bit % 8)) & ((1 << bits) - 1);
    }

    private void setCode(int b, int i, int code) {
        int bit = i * bits;
        int at = b * blobBytes() + bit / 8;
        int mask = ((1 << bits) - 1) << (bit % 8);
        packed[at] = (byte) ((packed[at] & ~mask) | (code << (bit % 8)));
    }

    /**
     * Writes the codes of block {@code b} of {@code w} at its current scale and zero point, clamped to [zp + lo,
     * zp + hi]; false when some value needed clamping (it no longer fits the block's scale).
     */
    private boolean encodeBlock(int b, float[] w, int lo, int hi) {
        int zp = zeroPoint(b);
        float scale = scales[b];
        int row = b / blocksPerRow();
        boolean fits = true;
        for (int k = blockStart(b); k < blockEnd(b); k++) {
            float v = w[row * cols + k];
            int q = scale == 0 ? 0 : Math.round(v / scale);
            if (q < lo || q > hi || scale == 0 && v != 0) {
                fits = false;
                q = Math.max(lo, Math.min(hi, q));
            }
            setCode(b, k - blockStart(b), q + zp);
        }
        return fits;
    }

    private void fitSymmetric(int b, float[] w) {
        int row = b / blocksPerRow();
        float extreme = 0;
        for (int k = blockStart(b); k < blockEnd(b); k++) {
            float v = w[row * cols + k];
            if (Math.abs(v) > Math.abs(extreme)) {
                extreme = v;
            }
        }
        int half = 1 << (bits - 1);
        scales[b] = extreme / -half;
        encodeBlock(b, w, -half, half - 1);
    }

    private void fitAsymmetric(int b, float[] w) {
        int row = b / blocksPerRow();
        float min = 0;
        float max = 0;
        for (int k = blockStart(b); k < blockEnd(b); k++) {
            min = Math.min(min, w[row * cols + k]);
            max = Math.max(max, w[row * cols + k]);
        }
        int top = (1 << bits) - 1;
        float scale = (max - min) / top;
        int zp = scale == 0 ? 1 << (bits - 1) : Math.max(0, Math.min(top, Math.round(-min / scale)));
        scales[b] = scale;
        setZeroPoint(b, zp);
        encodeBlock(b, w, -zp, top - zp);
    }

    /** The same matrix with its rows reordered: row r of the result is row {@code from[r]} of this one. */
    public BlockQuantised permuteRows(int[] from) {
        int blobRow = blocksPerRow() * blobBytes();
        // sized by this.rows, which may be fewer than the source holds (see rows(first, count))
        byte[] p = new byte[rows * blobRow];
        float[] s = new float[rows * blocksPerRow()];
        byte[] z = zeroPoints == null ? null : new byte[rows * zeroPointBytesPerRow()];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(packed, from[r] * blobRow, p, r * blobRow, blobRow);
            System.arraycopy(scales, from[r] * blocksPerRow(), s, r * blocksPerRow(), blocksPerRow());
            if (z != null) {
                System.arraycopy(zeroPoints, from[r] * zeroPointBytesPerRow(), z, r * zeroPointBytesPerRow(), zeroPointBytesPerRow());
            }
        }
        return new BlockQuantised(rows, cols, bits, blockSize, p, s, z);
    }

    /** Rows {@code first .. first+count-1}: one projection of a fused GGUF tensor (phi3's attn_qkv, ffn_up). */
    public BlockQuantised rows(int first, int count) {
        if (first == 0 && count == rows) {
            return this;
        }
        int[] from = new int[count];
        for (int r = 0; r < count; r++) {
            from[r] = first + r;
        }
        return new BlockQuantised(count, cols, bits, blockSize, packed, scales, zeroPoints).permuteRows(from);
    }
}
