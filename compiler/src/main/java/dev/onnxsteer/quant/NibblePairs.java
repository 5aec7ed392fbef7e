package dev.onnxsteer.quant;

/**
 * A symmetric 8-bit MatMulNBits matrix {@code [N, K]} written as one 4-bit MatMulNBits {@code [N, 2K]} that reads
 * its input twice ({@code Concat(x, x)}): each signed code q (-128..127, scale d) is split into its high nibble
 * h = floor(q / 16) (-8..7: code h + 8, zero point 8, scale 16d) in the first K columns and its low nibble
 * l = q - 16h (0..15: code l, zero point 0, scale d) in the last K, so that {@code 16d*h + d*l = d*q}.
 *
 * <p>Why: ONNX Runtime 1.27's CPU MatMulNBits has no float-activation kernel for 8 bits; it dequantises the
 * whole of B into a fresh float buffer on every call and runs an unpacked SGEMM ({@code ComputeBUnpacked},
 * "TODO: move B dequant to prepack"), which made Q8_0 imports decode at 0.04x llama.cpp. Its 4-bit
 * float-activation kernel (MLAS SQ4BitGemm, CompFp32) prepacks B and fuses the dequantisation into the
 * product. Every product and sum in {@code 16d*h + d*l} is exact in float32 when d is a float16 value (Q8_0's
 * scales: 11 significant bits times at most 8), so the pair dequantises to the GGUF's values bit for bit.
 */
public final class NibblePairs {
    private static final int HIGH_ZERO_POINT = 8;

    private NibblePairs() {}

    /** {@code eight} (8 bits, default zero point 128, blocks of {@link BlockQuantised#BLOCK}) as the 4-bit pair over [x, x]. */
    public static BlockQuantised split(BlockQuantised eight) {
        if (eight.bits() != 8 || !eight.symmetric() || eight.blockSize() != BlockQuantised.BLOCK
                || eight.cols() % BlockQuantised.BLOCK != 0) {
            throw new IllegalArgumentException("nibble pairs need symmetric 8-bit blocks of " + BlockQuantised.BLOCK
                    + " over whole rows, found " + eight.bits() + " bits, block " + eight.blockSize() + ", "
                    + (eight.symmetric() ? "symmetric" : "zero points") + ", " + eight.cols() + " columns");
        }
        int rows = eight.rows();
        int perRow = eight.blocksPerRow();
        int blob = BlockQuantised.BLOCK / 2;
        byte[] packed = new byte[rows * 2 * perRow * blob];
        float[] scales = new float[rows * 2 * perRow];
        // 2 * perRow four-bit zero points per row: perRow bytes, the high half's blocks first
        byte[] zeroPoints = new byte[rows * perRow];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < perRow; j++) {
                int source = r * perRow + j;
                int high = r * 2 * perRow + j;
                int low = high + perRow;
                float d = eight.scales()[source];
                scales[high] = 16 * d;
                scales[low] = d;
                for (int i = 0; i < BlockQuantised.BLOCK; i++) {
                    int q = (eight.packed()[source * BlockQuantised.BLOCK + i] & 0xff) - 128;
                    setNibble(packed, high * blob, i, (q >> 4) + HIGH_ZERO_POINT);
                    setNibble(packed, low * blob, i, q & 0x0f);
                }
                setNibble(zeroPoints, r * perRow, j, HIGH_ZERO_POINT);
            }
        }
        return new BlockQuantised(rows, 2 * eight.cols(), 4, packed, scales, zeroPoints);
    }

    /**
     * Whether {@code blocks} has the layout {@link #split} writes: 4 bits in blocks of {@link BlockQuantised#BLOCK},
     * an even number of columns, every block of the first half zero point 8 and scale exactly 16 times that of the
     * matching block of the second half, whose zero points are 0.
     */
    public static boolean isPair(BlockQuantised blocks) {
        if (blocks.bits() != 4 || blocks.blockSize() != BlockQuantised.BLOCK || blocks.zeroPoints() == null
                || blocks.cols() % (2 * BlockQuantised.BLOCK) != 0) {
            return false;
        }
        int perRow = blocks.blocksPerRow() / 2;
        for (int r = 0; r < blocks.rows(); r++) {
            for (int j = 0; j < perRow; j++) {
                int high = r * 2 * perRow + j;
                if (nibble(blocks.zeroPoints(), r * perRow, j) != HIGH_ZERO_POINT
                        || nibble(blocks.zeroPoints(), r * perRow, j + perRow) != 0
                        || blocks.scales()[high] != 16 * blocks.scales()[high + perRow]) {
                    return false;
                }
            }
        }
        return true;
    }

    /** The 8-bit symmetric matrix {@code [N, K]} a pair {@code [N, 2K]} multiplies [x, x] by (the inverse of {@link #split}). */
    public static BlockQuantised fold(BlockQuantised pair) {
        if (!isPair(pair)) {
            throw new IllegalArgumentException("not a nibble pair: " + pair.bits() + " bits, block " + pair.blockSize()
                    + ", " + pair.cols() + " columns");
        }
        int rows = pair.rows();
        int perRow = pair.blocksPerRow() / 2;
        int blob = BlockQuantised.BLOCK / 2;
        byte[] packed = new byte[rows * perRow * BlockQuantised.BLOCK];
        float[] scales = new float[rows * perRow];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < perRow; j++) {
                int high = r * 2 * perRow + j;
                int low = high + perRow;
                int target = r * perRow + j;
                scales[target] = pair.scales()[low];
                for (int i = 0; i < BlockQuantised.BLOCK; i++) {
                    int q = 16 * (nibble(pair.packed(), high * blob, i) - HIGH_ZERO_POINT) + nibble(pair.packed(), low * blob, i);
                    packed[target * BlockQuantised.BLOCK + i] = (byte) (q + 128);
                }
            }
        }
        return new BlockQuantised(rows, pair.cols() / 2, 8, packed, scales, null);
    }

    private static int nibble(byte[] bytes, int at, int i) {
        return ((bytes[at + i / 2] & 0xff) >>> (4 * (i % 2))) & 0x0f;
    }

    /** Element {@code i} of the 4-bit run starting at byte {@code at}: low nibble first. */
    private static void setNibble(byte[] bytes, int at, int i, int value) {
        int index = at + i / 2;
        int shift = 4 * (i % 2);
        bytes[index] = (byte) ((bytes[index] & ~(0x0f << shift)) | (value << shift));
    }
}
