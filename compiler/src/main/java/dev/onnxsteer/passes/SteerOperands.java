package dev.onnxsteer.passes;

import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.Site;
import java.util.List;

/**
 * The graph values a steering operation reads at one site, each either {@code [hidden]} (constant) or
 * {@code [batch, 1, hidden]} (per row), and the names {@link SteerPass.Applied} records: built from
 * constants ({@link Mode#ADD}), from {@link CompiledModelAbi} inputs ({@link Mode#INPUT}), or from a bank.
 */
record SteerOperands(Value addend, Value direction, Value directionColumn, Value clampTarget, boolean perRow,
        String tensor, String coefficientTensor, String directionTensor) {

    /** Initializers {@code onnx_steer.SITE.add} ({@code c v}), {@code .direction}, {@code .direction_column}, {@code .clamp}. */
    static SteerOperands constants(Model model, SteerPlan.Step step, SteerOp op) {
        Steering s = step.steering();
        Site site = step.site();
        Graph root = model.graph();
        long h = site.hiddenSize();
        DataType type = step.type();
        String base = "onnx_steer." + site.name();
        Value addend = null;
        Value direction = null;
        Value column = null;
        Value clamp = null;
        if (op == SteerOp.ADD || op == SteerOp.ABLATE_ADD) {
            addend = root.addInitializer(root.names().fresh(base + ".add"),
                    Tensor.ofFloats(type, new long[] {h}, VectorMath.scaled(s.vector(), s.coefficient())));
        }
        if (op.usesDirection()) {
            float[] r = VectorMath.unit(s.vector());
            direction = root.addInitializer(root.names().fresh(base + ".direction"), Tensor.ofFloats(type, new long[] {h}, r));
            column = root.addInitializer(root.names().fresh(base + ".direction_column"),
                    Tensor.ofFloats(type, new long[] {h, 1}, r));
            if (op == SteerOp.CLAMP) {
                clamp = root.addInitializer(root.names().fresh(base + ".clamp"),
                        Tensor.ofFloats(type, new long[] {h}, VectorMath.scaled(r, s.coefficient())));
            }
        }
        String tensor = op == SteerOp.CLAMP ? clamp.name() : addend != null ? addend.name() : null;
        return new SteerOperands(addend, direction, column, clamp, false, tensor, null,
                direction != null ? direction.name() : null);
    }

    /** {@code steer.SITE.vector [steer_batch, hidden]} and {@code steer.SITE.coefficient}, defaulting to the compiled values. */
    static SteerOperands inputs(Model model, SteerPlan.Step step, SteerOp op, SteerGraphs graphs) {
        Steering steering = step.steering();
        Site site = step.site();
        Graph root = model.graph();
        Graph graph = site.graph();
        Value vector = root.find(CompiledModelAbi.vectorInput(site.name())).orElse(null);
        Value coefficient = root.find(CompiledModelAbi.coefficientInput(site.name())).orElse(null);
        if (vector == null) {
            // [batch, hidden] so each row of a batch can carry its own vector; the default has one row.
            vector = root.addInitializer(CompiledModelAbi.vectorInput(site.name()),
                    Tensor.ofFloats(new long[] {1, site.hiddenSize()}, steering.vector()));
            vector.setType(CompiledModelAbi.vectorType(site.hiddenSize()));
            root.addInput(vector);
            coefficient = root.addInitializer(CompiledModelAbi.coefficientInput(site.name()),
                    Tensor.scalar(steering.coefficient()));
            root.addInput(coefficient);
        }
        String scope = "/onnx_steer/" + site.name() + "/";
        Value addend = null;
        Value direction = null;
        Value clamp = null;
        if (op == SteerOp.ADD || op == SteerOp.ABLATE_ADD) {
            Value scaledVector = graph.op("Mul").name(scope + "Mul").inputs(vector, coefficient).value();
            addend = Unsqueeze.axis(model, graph, scope + "Unsqueeze", scaledVector, 1);
        }
        if (op.usesDirection()) {
            // a row fed zeros (an unsteered row of a mixed batch) must be the identity, not 0/0 = NaN:
            // dividing by max(|v|, the smallest normal float) gives r = 0 there and is |v| for any real vector
            Value length = graphs.norm(graph, scope + "vector_norm/", vector, site.hiddenSize());
            Value floor = root.addInitializer(root.names().fresh("steer." + site.name() + ".norm_floor"),
                    Tensor.scalar(Float.MIN_NORMAL));
            Value safeLength = graph.op("Max").name(scope + "vector_norm/Max").inputs(length, floor).value();
            Value r = graph.op("Div").name(scope + "direction/Div").inputs(vector, safeLength).value();
            direction = Unsqueeze.axis(model, graph, scope + "direction/Unsqueeze", r, 1);
            if (op == SteerOp.CLAMP) {
                clamp = graph.op("Mul").name(scope + "clamp/Mul").inputs(direction, coefficient).value();
            }
        }
        // the inputs stay float32 (what callers feed); the operands are cast once to the site's type
        return new SteerOperands(SteerGraphs.cast(graph, scope + "add/Cast", addend, step.type()),
                SteerGraphs.cast(graph, scope + "direction/Cast", direction, step.type()), null,
                SteerGraphs.cast(graph, scope + "clamp/Cast", clamp, step.type()), true, vector.name(), coefficient.name(),
                null);
    }

    /**
     * {@code steer_bank [K, hidden]} (per site when several), {@code steer_index [batch]} int64 and
     * {@code steer_scale [batch]}: row b adds {@code steer_scale[b] * steer_bank[steer_index[b]]}.
     */
    static SteerOperands bank(Model model, SteerPlan.Step step, boolean severalSites) {
        Site site = step.site();
        Graph root = model.graph();
        Graph graph = site.graph();
        long h = site.hiddenSize();
        String bankName = CompiledModelAbi.bankInput(site.name(), severalSites);
        Value bank = root.find(bankName).orElse(null);
        if (bank == null) {
            List<Steering> rows = step.rows();
            float[] data = new float[Math.toIntExact(rows.size() * h)];
            for (int k = 0; k < rows.size(); k++) {
                System.arraycopy(rows.get(k).vector(), 0, data, (int) (k * h), (int) h);
            }
            bank = root.addInitializer(bankName, Tensor.ofFloats(new long[] {rows.size(), h}, data));
            bank.setType(CompiledModelAbi.bankType(h));
            root.addInput(bank);
        }
        Value index = root.find(CompiledModelAbi.INDEX_INPUT).orElse(null);
        Value scale = root.find(CompiledModelAbi.SCALE_INPUT).orElse(null);
        if (index == null) {
            index = root.addInitializer(CompiledModelAbi.INDEX_INPUT, Tensor.ofLongs(new long[] {1}, 0L));
            index.setType(CompiledModelAbi.perRow(DataType.INT64));
            root.addInput(index);
            scale = root.addInitializer(CompiledModelAbi.SCALE_INPUT,
                    Tensor.ofFloats(new long[] {1}, step.steering().coefficient()));
            scale.setType(CompiledModelAbi.perRow(DataType.FLOAT));
            root.addInput(scale);
        }
        String scope = "/onnx_steer/" + site.name() + "/bank/";
        Value rows = graph.op("Gather").name(scope + "Gather").inputs(bank, index).attr("axis", 0L).value();
        Value column = Unsqueeze.axis(model, graph, scope + "scale/Unsqueeze", scale, 1);
        Value scaledRows = graph.op("Mul").name(scope + "Mul").inputs(rows, column).value();
        Value addend = SteerGraphs.cast(graph, scope + "Cast",
                Unsqueeze.axis(model, graph, scope + "Unsqueeze", scaledRows, 1), step.type());
        return new SteerOperands(addend, null, null, null, true, bank.name(), scale.name(), null);
    }
}
