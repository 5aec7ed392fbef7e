package dev.onnxsteer.importer;

import dev.onnxsteer.ir.HalfFloats;
import java.nio.ByteBuffer;

/**
 * A weight matrix {@code [rows, cols]} (rows = output features N, cols = input features K) in the layout of
 * ONNX Runtime's {@code com.microsoft.MatMulNBits} with block size 32: {@code packed} is {@code [N, K/32,
 * 32 * bits / 8]} uint8 with codes packed low bits first along K, {@code scales} is {@code [N * K/32]}
 * float32, and {@code zeroPoints} is null (the default zero point 2^(bits-1)) or, for 4 bits, {@code [N *
 * ceil((K/32) / 2)]} uint8 with two 4-bit zero points per byte. Element (n, k) is {@code (code -
 * zero_point) * scale}.
 */
record BlockQuantised(int rows, int cols, int bits, byte[] packed, float[] scales, byte[] zeroPoints) {
    static final int BLOCK = 32;

    int blocksPerRow() {
        return cols / BLOCK;
    }

    int zeroPointBytesPerRow() {
        return (blocksPerRow() + 1) / 2;
    }

    /**
     * GGUF Q4_0 blocks (fp16 d, 16 bytes: element j in the low nibble of byte j, element j + 16 in the high
     * nibble) as 4-bit codes with the default zero point 8: (q - 8) * d is ggml's value exactly.
     */
    static BlockQuantised fromQ4_0(ByteBuffer raw, int rows, int cols) {
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
    static BlockQuantised fromQ8_0(ByteBuffer raw, int rows, int cols) {
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

    /** Symmetric 8-bit: scale = max|w| / 127 per block, code = round(w / scale) + 128. */
    static BlockQuantised int8(float[] w, int rows, int cols) {
        int blocks = rows * (cols / BLOCK);
        byte[] packed = new byte[blocks * 32];
        float[] scales = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            float amax = 0;
            for (int i = 0; i < BLOCK; i++) {
                amax = Math.max(amax, Math.abs(w[b * BLOCK + i]));
            }
            float scale = amax / 127f;
            scales[b] = scale;
            for (int i = 0; i < BLOCK; i++) {
                int q = scale == 0 ? 0 : Math.round(w[b * BLOCK + i] / scale);
                packed[b * 32 + i] = (byte) (Math.max(-127, Math.min(127, q)) + 128);
            }
        }
        return new BlockQuantised(rows, cols, 8, packed, scales, null);
    }

    /**
     * Asymmetric 4-bit: per block, the range [min(w, 0), max(w, 0)] over 15 steps, zero point = round(-min /
     * scale), code = clamp(round(w / scale) + zero point, 0, 15).
     */
    static BlockQuantised int4(float[] w, int rows, int cols) {
        int perRow = cols / BLOCK;
        int blocks = rows * perRow;
        int zpPerRow = (perRow + 1) / 2;
        byte[] packed = new byte[blocks * 16];
        float[] scales = new float[blocks];
        byte[] zeroPoints = new byte[rows * zpPerRow];
        for (int b = 0; b < blocks; b++) {
            float min = 0;
            float max = 0;
            for (int i = 0; i < BLOCK; i++) {
                min = Math.min(min, w[b * BLOCK + i]);
                max = Math.max(max, w[b * BLOCK + i]);
            }
            float scale = (max - min) / 15f;
            int zp = scale == 0 ? 8 : Math.max(0, Math.min(15, Math.round(-min / scale)));
            scales[b] = scale;
            int zpIndex = (b / perRow) * zpPerRow + (b % perRow) / 2;
            zeroPoints[zpIndex] |= (byte) (zp << (4 * ((b % perRow) % 2)));
            for (int i = 0; i < 16; i++) {
                int lo = code(w[b * BLOCK + 2 * i], scale, zp);
                int hi = code(w[b * BLOCK + 2 * i + 1], scale, zp);
                packed[b * 16 + i] = (byte) (lo | hi << 4);
            }
        }
        return new BlockQuantised(rows, cols, 4, packed, scales, zeroPoints);
    }

    private static int code(float w, float scale, int zp) {
        return scale == 0 ? zp : Math.max(0, Math.min(15, Math.round(w / scale) + zp));
    }

    /** The matrix as MatMulNBits defines it, [rows, cols] row-major float32. */
    float[] dequantise() {
        int perRow = blocksPerRow();
        float[] out = new float[rows * cols];
        int blobBytes = BLOCK * bits / 8;
        for (int b = 0; b < rows * perRow; b++) {
            int zp = 1 << (bits - 1);
            if (zeroPoints != null) {
                int z = zeroPoints[(b / perRow) * zeroPointBytesPerRow() + (b % perRow) / 2] & 0xff;
                zp = (b % perRow) % 2 == 0 ? z & 0x0f : z >>> 4;
            }
            for (int i = 0; i < BLOCK; i++) {
                int q = bits == 8 ? packed[b * blobBytes + i] & 0xff : ((packed[b * blobBytes + i / 2] & 0xff) >>> (4 * (i % 2))) & 0x0f;
                out[b * BLOCK + i] = (q - zp) * scales[b];
            }
        }
        return out;
    }

    /** The same matrix with its rows reordered: row r of the result is row {@code from[r]} of this one. */
    BlockQuantised permuteRows(int[] from) {
        int blobRow = blocksPerRow() * BLOCK * bits / 8;
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
        return new BlockQuantised(rows, cols, bits, p, s, z);
    }

    /** Rows {@code first .. first+count-1}: one projection of a fused GGUF tensor (phi3's attn_qkv, ffn_up). */
    BlockQuantised rows(int first, int count) {
        if (first == 0 && count == rows) {
            return this;
        }
        int[] from = new int[count];
        for (int r = 0; r < count; r++) {
            from[r] = first + r;
        }
        return new BlockQuantised(count, cols, bits, packed, scales, zeroPoints).permuteRows(from);
    }
}
