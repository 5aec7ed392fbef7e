package dev.onnxsteer.passes;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.Site;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The sub-graphs of the steering operations, for one {@link SteerPass} run: add, directional ablation
 * ({@code x - (x.r) r}), ablate-add, clamp, norm preservation and the position mask, and where they go
 * (after the site, or around a fused skip norm's sum). Shared constants (a ones column per hidden size
 * and type) are made once per run.
 */
final class SteerGraphs {
    private static final float NORM_FLOOR = 1e-30f;

    private final Model model;
    private final SteerOptions options;
    private final PositionMask masks;
    private final Map<String, Value> ones = new HashMap<>();

    SteerGraphs(Model model, SteerOptions options, PositionMask masks) {
        this.model = model;
        this.options = options;
        this.masks = masks;
    }

    /** Applies the operation at {@code site}, rewiring its readers (or feeding a fused norm) to the result. */
    void apply(Site site, SteerOperands operands, DataType type) {
        if (options.op() == SteerOp.ADD && options.positions().isAll() && !options.preserveNorm()) {
            insertAdd(site, operands.addend());
        } else if (FusedNorms.isSkipNormSum(site.value())) {
            steerFusedSum(site, operands, type);
        } else {
            Value x = site.value();
            boolean output = x.isGraphOutput();
            Value y = Rewire.after(x, in -> {
                Value out = transform(site.graph(), "/onnx_steer/" + site.name() + "/", in, operands, site.hiddenSize(),
                        type);
                out.setType(x.type());
                return out;
            });
            keepOutputName(site, x, y, output);
        }
    }

    /** Adds {@code addend} to the site value and moves every reader of the site to the sum. */
    private static void insertAdd(Site site, Value addend) {
        Value target = site.value();
        Graph graph = site.graph();
        if (FusedNorms.isSkipNormSum(target)) {
            // sum = input + skip (+ bias): adding to the input steers the sum and its normalised output alike
            Node fused = target.producer();
            Value steeredInput = graph.op("Add").name("/onnx_steer/" + site.name() + "/Add")
                    .inputs(fused.input(0), addend).value();
            steeredInput.setType(target.type());
            fused.setInput(0, steeredInput);
            return;
        }
        boolean output = target.isGraphOutput();
        Value sum = Rewire.after(target, in -> {
            Value out = graph.op("Add").name("/onnx_steer/" + site.name() + "/Add").inputs(in, addend)
                    .outputs(target.name() + "_steered").value();
            out.setType(target.type());
            return out;
        });
        keepOutputName(site, target, sum, output);
    }

    /** A main-graph output that was the site keeps its name (callers ask for it by name) on the steered value. */
    private static void keepOutputName(Site site, Value target, Value steered, boolean wasOutput) {
        if (wasOutput && site.graph().parent() == null) {
            steered.swapNames(target);
        }
    }

    /**
     * {@code f(x)} of the op at every position, then norm preservation and the position mask.
     * Shapes: x {@code [batch, seq, hidden]}, projections {@code [batch, seq, 1]}.
     */
    private Value transform(Graph g, String scope, Value x, SteerOperands o, long hidden, DataType type) {
        SteerOp op = options.op();
        Value y = x;
        if (op.usesDirection()) {
            Value projection = o.perRow()
                    ? g.op("MatMul").name(scope + "projection/MatMul")
                            .inputs(g.op("Mul").name(scope + "projection/Mul").inputs(x, o.direction()).value(),
                                    ones(hidden, type)).value()
                    : g.op("MatMul").name(scope + "projection/MatMul").inputs(x, o.directionColumn()).value();
            Value along = g.op("Mul").name(scope + "ablate/Mul").inputs(projection, o.direction()).value();
            y = g.op("Sub").name(scope + "ablate/Sub").inputs(x, along).value();
        }
        if (op == SteerOp.ADD || op == SteerOp.ABLATE_ADD) {
            y = g.op("Add").name(scope + "Add").inputs(y, o.addend()).value();
        }
        if (op == SteerOp.CLAMP) {
            y = g.op("Add").name(scope + "clamp/Add").inputs(y, o.clampTarget()).value();
        }
        if (options.preserveNorm()) {
            // sums of squares overflow float16 long before the values do, so the norms are taken in float32
            Value before = norm(g, scope + "norm_before/", widen(g, scope + "norm_before/Cast", x, type), hidden);
            Value after = norm(g, scope + "norm_after/", widen(g, scope + "norm_after/Cast", y, type), hidden);
            Value floor = model.graph().addInitializer(model.graph().names().fresh("onnx_steer.norm_floor"),
                    Tensor.scalar(NORM_FLOOR));
            Value safe = g.op("Max").name(scope + "norm/Max").inputs(after, floor).value();
            Value ratio = cast(g, scope + "norm/Cast", g.op("Div").name(scope + "norm/Div").inputs(before, safe).value(),
                    type);
            y = g.op("Mul").name(scope + "norm/Mul").inputs(y, ratio).value();
        }
        if (!options.positions().isAll()) {
            y = g.op("Where").name(scope + "positions/Where").inputs(masks.mask(), y, x).value();
        }
        return y;
    }

    /**
     * A fused skip norm computes the residual sum and normalises it in one node, so the sum is
     * recomputed in plain ops, transformed, and handed back to the node as its whole input: both the
     * sum it returns (output 3) and the normalised value the next sublayer reads (output 0) see it.
     */
    private void steerFusedSum(Site site, SteerOperands operands, DataType type) {
        Node fused = site.value().producer();
        Graph g = site.graph();
        String scope = "/onnx_steer/" + site.name() + "/";
        Value sum = g.op("Add").name(scope + "sum/Add").inputs(fused.input(0), fused.input(1)).value();
        int biasIndex = FusedNorms.biasIndex(fused);
        if (fused.inputCount() > biasIndex && fused.input(biasIndex) != null) {
            sum = g.op("Add").name(scope + "sum/Add_bias").inputs(sum, fused.input(biasIndex)).value();
        }
        sum.setType(site.value().type());
        Value y = transform(g, scope, sum, operands, site.hiddenSize(), type);
        y.setType(site.value().type());
        FusedNorms.computeFrom(g, fused, y, scope);
    }

    /**
     * Euclidean norm of a float32 {@code v} over the last axis, keeping it: {@code sqrt((v * v) @ ones[hidden, 1])},
     * opset-independent.
     */
    Value norm(Graph g, String scope, Value v, long hidden) {
        Value squares = g.op("Mul").name(scope + "Mul").inputs(v, v).value();
        Value sum = g.op("MatMul").name(scope + "MatMul").inputs(squares, ones(hidden, DataType.FLOAT)).value();
        return g.op("Sqrt").name(scope + "Sqrt").inputs(sum).value();
    }

    private Value ones(long hidden, DataType type) {
        return ones.computeIfAbsent(type.label() + hidden, key -> {
            float[] values = new float[Math.toIntExact(hidden)];
            Arrays.fill(values, 1f);
            Graph root = model.graph();
            String suffix = type == DataType.FLOAT ? "" : "_" + type.label();
            return root.addInitializer(root.names().fresh("onnx_steer.ones_" + hidden + suffix),
                    Tensor.ofFloats(type, new long[] {hidden, 1}, values));
        });
    }

    /** {@code value} (float32) as {@code type}; itself when that is float32 or the value is absent. */
    static Value cast(Graph g, String name, Value value, DataType type) {
        if (value == null || type == DataType.FLOAT) {
            return value;
        }
        return g.op("Cast").name(name).inputs(value).attr("to", (long) type.code()).value();
    }

    /** {@code value} of element type {@code type} as float32. */
    private static Value widen(Graph g, String name, Value value, DataType type) {
        return type == DataType.FLOAT ? value
                : g.op("Cast").name(name).inputs(value).attr("to", (long) DataType.FLOAT.code()).value();
    }
}
