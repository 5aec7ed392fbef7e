package dev.onnxsteer.passes;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.Projection;
import dev.onnxsteer.sites.Projections;
import dev.onnxsteer.sites.Site;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Bias editing at a sublayer input ({@code attn_in}, {@code mlp_in}), as "Implementing activation
 * steering" does it: every reader of the input is a linear projection, so
 * {@code (x + c*v) W + b = x W + (b + c*v*W)} and adding {@code c*v} to the input is folding
 * {@code c*v*W} into the bias of each projection (GPT-2 {@code c_attn}, {@code c_fc}; q, k and v
 * separately where a model has three). No node is added. A projection without a bias (llama) is
 * refused unless {@code createBias}, which gives it one bias initializer (an {@code Add} after a
 * MatMul, Gemm's C, the fused Attention's bias input). A bias shared with other nodes is copied first.
 */
final class SublayerInputBias {
    private SublayerInputBias() {}

    /** Refuses, before any edit, a site whose readers cannot absorb the constant. */
    static void check(Site site, boolean createBias) {
        String mode = "--mode bias";
        Projections.Readers readers = Projections.of(site.value(), site.hiddenSize());
        if (!readers.others().isEmpty() || site.value().isGraphOutput()) {
            throw new IllegalArgumentException(mode + ": " + site.name() + " is also read by "
                    + (readers.others().isEmpty() ? "the graph outputs" : readers.others()) + ", which "
                    + (readers.others().size() == 1 ? "is" : "are") + " not a linear projection, so a constant there "
                    + "cannot be folded into a bias; use --mode add");
        }
        if (readers.projections().isEmpty()) {
            throw new IllegalArgumentException(mode + ": no linear projection reads " + site.name() + "; use --mode add");
        }
        List<Projection> unbiased = readers.projections().stream().filter(p -> !p.hasBias()).toList();
        if (!unbiased.isEmpty() && !createBias) {
            throw new IllegalArgumentException(mode + ": " + (unbiased.size() == readers.projections().size() ? "the "
                    : unbiased.size() + " of the ") + readers.projections().size() + " projections reading "
                    + site.name() + " (" + unbiased.stream().map(p -> p.node().name()).collect(Collectors.joining(", "))
                    + ") have no bias to fold c*v*W into; use --mode add, or --create-bias to give each projection "
                    + "one bias initializer");
        }
        for (Projection p : readers.projections()) {
            QuantisedBias.check(p, createBias);
            if (!p.quantized() && !HalfFloats.isSteerable(p.weight().initializer().type())) {
                throw new IllegalArgumentException(mode + ": the weight " + p.weight() + " of " + p.node() + " is "
                        + p.weight().initializer().type().label() + "; only float32, float16 and bfloat16 projections "
                        + "can be folded; use --mode add");
            }
            if (p.hasBias() && !HalfFloats.isSteerable(p.bias().initializer().initializer().type())) {
                throw new IllegalArgumentException(mode + ": the bias " + p.bias().initializer() + " of " + p.node()
                        + " is " + p.bias().initializer().initializer().type().label()
                        + "; expected float32, float16 or bfloat16; use --mode add");
            }
        }
    }

    /** Folds {@code c*v*W} into every projection reading the site; returns what was done. */
    static SteerPass.Applied fold(Model model, Steering steering, Site site, boolean createBias) {
        float[] cv = SteerPass.scaled(steering.vector(), steering.coefficient());
        List<String> tensors = new ArrayList<>();
        List<String> originals = new ArrayList<>();
        for (Projection p : Projections.of(site.value(), site.hiddenSize()).projections()) {
            float[] delta = times(cv, p);
            if (p.hasBias()) {
                originals.add(p.bias().initializer().name());
                tensors.add(SteerPass.addToBias(p.bias(), delta));
            } else if (createBias) {
                tensors.add(createBias(model, p, delta));
            }
        }
        return new SteerPass.Applied(steering, site, Mode.BIAS, String.join(",", tensors), null,
                originals.isEmpty() ? null : String.join(",", originals));
    }

    /**
     * {@code cv W} (in double, per output column, from the weight widened to float32), times Gemm's
     * alpha / beta where the bias is Gemm's C; rounded to the bias's type once, where it is stored.
     */
    private static float[] times(float[] cv, Projection p) {
        Tensor w = p.weight().initializer();
        int out = Math.toIntExact(p.outputSize());
        int in = cv.length;
        FloatBuffer weights = p.quantized() ? FloatBuffer.wrap(QuantisedWeight.of(p).rows())
                : w.type() == DataType.FLOAT ? w.bytes().asFloatBuffer() : FloatBuffer.wrap(w.toFloats());
        double[] sum = new double[out];
        for (int i = 0; i < in; i++) {
            if (cv[i] == 0) {
                continue;
            }
            for (int j = 0; j < out; j++) {
                float wij = p.transposed() ? weights.get(j * in + i) : weights.get(i * out + j);
                sum[j] += (double) cv[i] * wij;
            }
        }
        double scale = 1;
        if (p.node().is("Gemm")) {
            scale = p.node().floatAttribute("alpha", 1f) / (double) p.node().floatAttribute("beta", 1f);
        }
        float[] delta = new float[out];
        for (int j = 0; j < out; j++) {
            delta[j] = (float) (sum[j] * scale);
        }
        return delta;
    }

    private static String createBias(Model model, Projection p, float[] delta) {
        Graph root = model.graph();
        String weight = p.weight().name();
        String base = weight.endsWith(".weight") ? weight.substring(0, weight.length() - ".weight".length())
                : p.node().name();
        DataType type = p.quantized() ? QuantisedBias.floatType(p) : p.weight().initializer().type();
        Value bias = root.addInitializer(root.names().fresh(base + ".bias"),
                Tensor.ofFloats(type, new long[] {delta.length}, delta));
        Node node = p.node();
        if (QuantisedBias.attach(p, bias)) {
            return bias.name();
        }
        if (node.is("MatMul")) {
            Value product = node.output(0);
            List<Use> readers = product.uses();
            Value sum = node.graph().op("Add").name(node.name() + "/onnx_steer_bias").inputs(product, bias)
                    .outputs(product.name() + "_biased").value();
            sum.setType(product.type());
            for (Use use : readers) {
                use.node().setInput(use.index(), sum);
            }
            for (int i = 0; i < node.graph().outputs().size(); i++) {
                if (node.graph().outputs().get(i) == product) {
                    node.graph().setOutput(i, sum);
                }
            }
        } else if (node.inputCount() > 2) {
            node.setInput(2, bias);
        } else {
            node.addInput(bias);
        }
        return bias.name();
    }
}
