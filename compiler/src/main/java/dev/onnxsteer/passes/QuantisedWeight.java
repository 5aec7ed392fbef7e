package dev.onnxsteer.passes;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.quant.BlockQuantised;
import dev.onnxsteer.quant.Bnb4Blocks;
import dev.onnxsteer.quant.ChannelQuantised;
import dev.onnxsteer.quant.NibblePairs;
import dev.onnxsteer.quant.RequantisationError;
import dev.onnxsteer.sites.Projection;

/**
 * The float32 matrix {@code W [in, out]} a quantised projection multiplies by, read from its initializers and
 * written back in the same scheme and layout (see {@link BlockQuantised#requantise}, {@link
 * ChannelQuantised#requantise}): {@code com.microsoft MatMulNBits} (B, scales, zero points), {@code
 * MatMulInteger} of a {@code DynamicQuantizeLinear}ed input (the 8-bit B, its zero point, and the weight scale
 * multiplied into the product), a QDQ {@code DequantizeLinear -> MatMul} (codes, scale, zero point, axis 1), or
 * {@code com.microsoft MatMulBnb4} (B, absmax; see {@link Bnb4Blocks}).
 * Initializers that anything else reads are copied before they change.
 */
final class QuantisedWeight {
    private static final String MS = "com.microsoft";

    /** Where the encoded tensors live: input {@code index} of {@code node} for each. */
    private record Slot(Node node, int index) {
        Value value() {
            return index < node.inputCount() ? node.input(index) : null;
        }
    }

    private final Node projection;
    private final Slot codes;
    private final Slot scale;
    private final Slot zeroPoint;
    private final Value floatOutput;

    private QuantisedWeight(Node projection, Slot codes, Slot scale, Slot zeroPoint, Value floatOutput) {
        this.projection = projection;
        this.codes = codes;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
        this.floatOutput = floatOutput;
    }

    /** The weight of a projection site discovery found. */
    static QuantisedWeight of(Projection p) {
        QuantisedWeight w = switch (p.encoding()) {
            case MATMUL_NBITS -> nbits(p.node());
            case MATMUL_INTEGER -> integer(p.node());
            case QDQ -> qdq(p.node());
            case BNB4 -> bnb4(p.node());
            default -> null;
        };
        if (w == null) {
            throw new BadModelException("cannot read the " + p.encoding().name().toLowerCase() + " weight of "
                    + p.node() + " as float32; expected MatMulNBits, MatMulBnb4, MatMulInteger with its weight scale, or "
                    + "DequantizeLinear on axis 1");
        }
        return w;
    }

    /**
     * The quantised projection producing {@code v} (its float output: a MatMulNBits or MatMulBnb4, the scale Mul
     * after a MatMulInteger, a MatMul of a DequantizeLinear), writing {@code hidden} columns; null when there is none.
     */
    static QuantisedWeight producing(Value v, long hidden) {
        Node p = v.producer();
        if (p == null) {
            return null;
        }
        if (p.opType().equals("MatMulNBits") && p.domain().equals(MS)) {
            return p.intAttribute("N", -1) == hidden ? nbits(p) : null;
        }
        if (isBnb4(p)) {
            return p.intAttribute("N", -1) == hidden ? bnb4(p) : null;
        }
        if (p.is("MatMul") && p.input(1) != null && p.input(1).producer() != null
                && p.input(1).producer().is("DequantizeLinear")) {
            QuantisedWeight w = qdq(p);
            return w != null && w.codes.value().initializer().dim(1) == hidden ? w : null;
        }
        for (int depth = 0; depth < 3 && p != null && (p.is("Mul") || p.is("Cast")); depth++) {
            Node next = null;
            for (Value in : p.inputs()) {
                Node q = in == null ? null : in.producer();
                if (q != null && q.is("MatMulInteger")) {
                    QuantisedWeight w = integer(q);
                    return w != null && w.codes.value().initializer().dim(1) == hidden ? w : null;
                }
                if (q != null && (q.is("Cast") || q.is("Mul") && next == null)) {
                    next = q;
                }
            }
            p = next;
        }
        return null;
    }

    private static QuantisedWeight nbits(Node n) {
        if (!initializer(n.input(1)) || !initializer(n.input(2))
                || n.inputCount() > 3 && n.input(3) != null && !initializer(n.input(3))
                || n.inputCount() > 4 && n.input(4) != null) {
            return null;
        }
        return new QuantisedWeight(n, new Slot(n, 1), new Slot(n, 2), new Slot(n, 3), n.output(0));
    }

    private static QuantisedWeight bnb4(Node n) {
        if (!initializer(n.input(1)) || n.inputCount() < 3 || !initializer(n.input(2))) {
            return null;
        }
        return new QuantisedWeight(n, new Slot(n, 1), new Slot(n, 2), new Slot(n, 3), n.output(0));
    }

    static boolean isBnb4(Node n) {
        return n.opType().equals("MatMulBnb4") && n.domain().equals(MS);
    }

    private static QuantisedWeight qdq(Node matMul) {
        Node dq = matMul.input(1).producer();
        if (dq == null || !dq.is("DequantizeLinear") || !initializer(dq.input(0)) || !initializer(dq.input(1))
                || dq.inputCount() > 2 && dq.input(2) != null && !initializer(dq.input(2))
                || dq.input(0).initializer().rank() != 2 || dq.intAttribute("block_size", 0) != 0
                || dq.input(1).initializer().elementCount() > 1 && dq.intAttribute("axis", 1) != 1) {
            return null;
        }
        return new QuantisedWeight(matMul, new Slot(dq, 0), new Slot(dq, 1), new Slot(dq, 2), matMul.output(0));
    }

    /** MatMulInteger(xq, Wq, xz, wz) -> Cast -> Mul(., Mul(x scale, W scale)) or Mul(Mul(., x scale), W scale). */
    private static QuantisedWeight integer(Node matMul) {
        if (!initializer(matMul.input(1)) || matMul.inputCount() > 3 && matMul.input(3) != null
                && !initializer(matMul.input(3))) {
            return null;
        }
        Value v = matMul.output(0);
        for (int depth = 0; depth < 3 && v.uses().size() == 1; depth++) {
            Node next = v.uses().get(0).node();
            if (next.is("Mul")) {
                for (int i = 0; i < 2; i++) {
                    Value other = next.input(i);
                    if (other == v) {
                        continue;
                    }
                    if (initializer(other) && other.initializer().type() == DataType.FLOAT) {
                        return new QuantisedWeight(matMul, new Slot(matMul, 1), new Slot(next, i), new Slot(matMul, 3),
                                next.output(0));
                    }
                    Node scales = other.producer();
                    if (scales != null && scales.is("Mul")) {
                        for (int j = 0; j < 2; j++) {
                            if (initializer(scales.input(j)) && scales.input(j).initializer().type() == DataType.FLOAT) {
                                return new QuantisedWeight(matMul, new Slot(matMul, 1), new Slot(scales, j),
                                        new Slot(matMul, 3), next.output(0));
                            }
                        }
                    }
                }
            } else if (!next.is("Cast")) {
                return null;
            }
            v = next.output(0);
        }
        return null;
    }

    private static boolean initializer(Value v) {
        return v != null && v.isInitializer();
    }

    /** The projection node (MatMulNBits, MatMulBnb4, MatMulInteger, or the QDQ MatMul). */
    Node node() {
        return projection;
    }

    /** The projection's float product: after MatMulInteger's Cast and weight-scale Mul, else the node's output. */
    Value floatOutput() {
        return floatOutput;
    }

    /** The stored codes' initializer, the name a rewrite is reported under. */
    Value codes() {
        return codes.value();
    }

    private boolean nbits() {
        return projection.opType().equals("MatMulNBits");
    }

    private BlockQuantised blocks() {
        Node n = projection;
        Value zp = zeroPoint.value();
        try {
            return BlockQuantised.of(codes.value().initializer(), scale.value().initializer(),
                    zp == null ? null : zp.initializer(), n.intAttribute("K", -1), n.intAttribute("N", -1),
                    n.intAttribute("bits", 4), n.intAttribute("block_size", 32));
        } catch (IllegalArgumentException e) {
            throw new BadModelException(n + ": " + e.getMessage());
        }
    }

    private Bnb4Blocks bnb4Blocks() {
        Node n = projection;
        try {
            return Bnb4Blocks.of(codes.value().initializer(), scale.value().initializer(), n.intAttribute("K", -1),
                    n.intAttribute("N", -1), n.intAttribute("block_size", 64), n.intAttribute("quant_type", 1));
        } catch (IllegalArgumentException e) {
            throw new BadModelException(n + ": " + e.getMessage());
        }
    }

    private ChannelQuantised channels() {
        Value zp = zeroPoint.value();
        try {
            return ChannelQuantised.of(codes.value().initializer(), scale.value().initializer(),
                    zp == null ? null : zp.initializer());
        } catch (IllegalArgumentException e) {
            throw new BadModelException(projection + ": " + e.getMessage());
        }
    }

    /** W as float32 {@code [in, out]} row-major. */
    float[] rows() {
        if (nbits()) {
            BlockQuantised b = blocks();
            return BlockQuantised.transpose(b.dequantise(), b.rows(), b.cols());
        }
        if (isBnb4(projection)) {
            Bnb4Blocks b = bnb4Blocks();
            return BlockQuantised.transpose(b.dequantise(), b.rows(), b.cols());
        }
        return channels().dequantise();
    }

    int inputs() {
        return nbits() || isBnb4(projection) ? Math.toIntExact(projection.intAttribute("K", -1)) : channels().rows();
    }

    int outputs() {
        return nbits() || isBnb4(projection) ? Math.toIntExact(projection.intAttribute("N", -1)) : channels().cols();
    }

    /** Requantises {@code rows} ([in, out]) into this weight's initializers; returns how far the stored values are from it. */
    RequantisationError write(float[] rows) {
        if (nbits()) {
            BlockQuantised b = blocks();
            BlockQuantised.Requantised r = nibblePair(b) ? requantisePair(b, rows)
                    : b.requantise(BlockQuantised.transpose(rows, b.cols(), b.rows()));
            store(codes, r.blocks().packedTensor());
            store(scale, r.blocks().scalesTensor(scale.value().initializer().type()));
            if (zeroPoint.value() != null) {
                store(zeroPoint, r.blocks().zeroPointsTensor());
            }
            return r.error();
        }
        if (isBnb4(projection)) {
            Bnb4Blocks b = bnb4Blocks();
            Bnb4Blocks.Requantised r = b.requantise(BlockQuantised.transpose(rows, b.cols(), b.rows()));
            store(codes, r.blocks().packedTensor());
            store(scale, r.blocks().absmaxTensor(scale.value().initializer().type()));
            return r.error();
        }
        ChannelQuantised.Requantised r = channels().requantise(rows);
        store(codes, r.weights().codesTensor());
        Tensor oldScale = scale.value().initializer();
        // MatMulInteger's weight scale may be shaped [1, N] or a scalar: keep its shape
        store(scale, new Tensor(DataType.FLOAT, oldScale.dims(), r.weights().scaleTensor().storage()));
        return r.error();
    }

    /** An 8-bit matrix the importer wrote as a 4-bit nibble pair over {@code Concat(x, x)} (see {@link NibblePairs}). */
    private boolean nibblePair(BlockQuantised b) {
        Node doubled = projection.input(0).producer();
        return doubled != null && doubled.is("Concat") && doubled.inputCount() == 2 && doubled.input(0) == doubled.input(1)
                && NibblePairs.isPair(b);
    }

    /**
     * {@code rows} ([2K, N], what the pair multiplies [x, x] by) as the pair's 8-bit matrix would hold it: the two
     * halves summed, requantised in 8 bits (unedited blocks keep their codes), split again. Requantising each
     * half in 4 bits instead would round the high half at 16 times the 8-bit step.
     */
    private static BlockQuantised.Requantised requantisePair(BlockQuantised pair, float[] rows) {
        int n = pair.rows();
        int k = pair.cols() / 2;
        float[] summed = new float[n * k];
        for (int col = 0; col < k; col++) {
            for (int row = 0; row < n; row++) {
                summed[row * k + col] = rows[col * n + row] + rows[(col + k) * n + row];
            }
        }
        BlockQuantised.Requantised eight = NibblePairs.fold(pair).requantise(summed);
        return new BlockQuantised.Requantised(NibblePairs.split(eight.blocks()), eight.error());
    }

    /** Puts {@code tensor} in the slot: in place when only this slot reads it, else as a fresh copy. */
    private static void store(Slot slot, Tensor tensor) {
        Value v = slot.value();
        Tensor old = v.initializer();
        if (old.type() == tensor.type() && java.util.Arrays.equals(old.dims(), tensor.dims())
                && old.bytes().equals(tensor.bytes())) {
            return;
        }
        boolean shared = v.uses().size() > 1 || v.isGraphInput() || v.isGraphOutput();
        if (!shared) {
            v.setInitializer(tensor);
            return;
        }
        Graph owner = v.graph();
        slot.node().setInput(slot.index(), owner.addInitializer(owner.names().fresh(v.name() + ".requantised"), tensor));
    }
}
