package dev.onnxsteer.passes;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.BiasInputs;
import dev.onnxsteer.sites.Projection;
import dev.onnxsteer.sites.Site;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Bias folding where the projection is quantised. {@code com.microsoft.MatMulNBits} has an optional float bias
 * (input 5), which ONNX Runtime 1.27's CPU kernel adds for 4- and 8-bit weights in float32 and float16: a
 * sublayer output (attn_out, mlp_out, and the residual sums they alone feed) made by a MatMulNBits without a
 * bias gets one holding {@code c*v}, no node added. MatMulInteger and QDQ projections fold into an
 * {@code Add(bias)} after them where there is one (site discovery finds it); otherwise {@code auto} adds, and
 * {@link #whyNot} says why. At a sublayer input, {@code c*v*W} is computed from the dequantised W
 * ({@link QuantisedWeight}) and a created bias goes into MatMulNBits' input 5, or an Add after MatMulInteger's
 * float product or a MatMulBnb4 (which has no bias input).
 */
public final class QuantisedBias {
    static final int NBITS_BIAS = 5;
    private static final String MS = "com.microsoft";

    private QuantisedBias() {}

    private static boolean isNBits(Node n) {
        return n != null && n.opType().equals("MatMulNBits") && n.domain().equals(MS);
    }

    /** MatMulNBits widths whose bias input ONNX Runtime 1.27's CPU kernel was seen to add. */
    private static boolean biasSupported(Node nbits) {
        long bits = nbits.intAttribute("bits", 4);
        return bits == 4 || bits == 8;
    }

    private static boolean quantisedProducer(Value v, long hidden) {
        Node p = v.producer();
        return isNBits(p) || p != null && p.opType().equals("MatMulBnb4") || QuantisedWeight.producing(v, hidden) != null;
    }

    /** The bias-less MatMulNBits that can take {@code c*v} as a new bias for {@code site}, or null. */
    static Node biasless(Site site) {
        return BiasInputs.freeBiasInput(site);
    }

    /** Gives the site's MatMulNBits the bias {@code c*v}; see {@link #biasless}. */
    static SteerPass.Applied fold(Steering steering, Site site) {
        Node n = biasless(site);
        float[] cv = VectorMath.scaled(steering.vector(), steering.coefficient());
        Value bias = newBias(n, floatType(n), cv);
        setBiasInput(n, bias);
        return new SteerPass.Applied(steering, site, Mode.BIAS, bias.name(), null, null);
    }

    /**
     * Why {@code --mode bias} cannot fold at {@code site} because of a quantised projection, for the message
     * that refuses it and the note {@code auto} leaves when it adds instead; null when no quantised projection
     * is involved or folding is possible.
     */
    public static String whyNot(Site site) {
        if (site.kind().isSublayerInput()) {
            List<Projection> quantised = site.projections().stream().filter(Projection::quantized).toList();
            if (quantised.isEmpty()) {
                return null;
            }
            return "is read by quantized projections (" + quantised.stream().map(p -> p.node().opType()).distinct()
                    .collect(Collectors.joining(", ")) + "), which auto does not fold into; --mode bias folds c*v*W "
                    + "from the dequantized weights";
        }
        if (site.bias() != null || biasless(site) != null) {
            return null;
        }
        Value out = BiasInputs.sublayerOutput(site, v -> quantisedProducer(v, site.hiddenSize()));
        Node p = out == null ? null : out.producer();
        if (p == null) {
            return null;
        }
        if (isNBits(p)) {
            return p.inputCount() > NBITS_BIAS && p.input(NBITS_BIAS) != null
                    ? "is produced by " + p.name() + " (MatMulNBits) whose bias is not a float initializer"
                    : "is produced by " + p.name() + ", a " + p.intAttribute("bits", 4) + "-bit MatMulNBits; only 4- "
                            + "and 8-bit ones were seen to add their bias input on ONNX Runtime 1.27's CPU provider";
        }
        if (p.opType().equals("MatMulBnb4")) {
            return "is produced by " + p.name() + " (MatMulBnb4), which has no bias input, and no Add(bias) follows it";
        }
        QuantisedWeight w = QuantisedWeight.producing(out, site.hiddenSize());
        if (w == null) {
            // attn_out/mlp_out is its own sublayer output whatever produces it: a float MatMul has no quantised weight
            return null;
        }
        return "is produced by " + w.node().name() + " (" + (w.node().is("MatMulInteger")
                ? "dynamic int8 MatMulInteger" : "QDQ MatMul") + "), which has no bias input, and no Add(bias) follows it";
    }

    /** The float type the projection computes in: MatMulNBits' scales or MatMulBnb4's absmax, else float32. */
    static DataType floatType(Projection p) {
        return isNBits(p.node()) || QuantisedWeight.isBnb4(p.node()) ? floatType(p.node()) : DataType.FLOAT;
    }

    private static DataType floatType(Node nbits) {
        return nbits.input(2).initializer().type();
    }

    /** Puts {@code bias} where the quantised projection {@code p} adds it; false when {@code p} is a float projection. */
    static boolean attach(Projection p, Value bias) {
        if (isNBits(p.node())) {
            setBiasInput(p.node(), bias);
            return true;
        }
        if (!p.node().is("MatMulInteger") && !QuantisedWeight.isBnb4(p.node())) {
            return false;
        }
        Value product = QuantisedWeight.of(p).floatOutput();
        List<Use> readers = product.uses();
        Graph g = p.node().graph();
        Value sum = g.op("Add").name(p.node().name() + "/onnx_steer_bias").inputs(product, bias)
                .outputs(product.name() + "_biased").value();
        sum.setType(product.type());
        for (Use use : readers) {
            use.node().setInput(use.index(), sum);
        }
        for (int i = 0; i < g.outputs().size(); i++) {
            if (g.outputs().get(i) == product) {
                g.setOutput(i, sum);
            }
        }
        return true;
    }

    /** Refuses, with the reason, a quantised projection a sublayer-input bias cannot be folded into. */
    static void check(Projection p, boolean createBias) {
        if (!p.quantized()) {
            return;
        }
        if (!p.hasBias() && createBias && isNBits(p.node()) && !biasSupported(p.node())) {
            throw new IllegalArgumentException("--mode bias --create-bias: " + p.node() + " is a "
                    + p.node().intAttribute("bits", 4) + "-bit MatMulNBits; only 4- and 8-bit ones were seen to add "
                    + "their bias input on ONNX Runtime 1.27's CPU provider; use --mode add");
        }
        QuantisedWeight.of(p);
    }

    private static Value newBias(Node n, DataType type, float[] values) {
        Graph root = n.graph();
        while (root.parent() != null) {
            root = root.parent();
        }
        Value packed = n.input(1);
        String base = packed.name().replaceAll("(_Q\\d+|\\.packed|\\.weight.*)$", "");
        return root.addInitializer(root.names().fresh(base + ".bias"),
                Tensor.ofFloats(type, new long[] {values.length}, values));
    }

    private static void setBiasInput(Node n, Value bias) {
        while (n.inputCount() < NBITS_BIAS) {
            n.addInput(null);
        }
        if (n.inputCount() == NBITS_BIAS) {
            n.addInput(bias);
        } else {
            n.setInput(NBITS_BIAS, bias);
        }
    }
}
