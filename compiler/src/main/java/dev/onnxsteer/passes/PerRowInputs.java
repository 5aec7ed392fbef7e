package dev.onnxsteer.passes;

import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * For servers that batch along the first dimension of every input (Triton's dynamic batching), every
 * input with a default becomes either a required per-row input or a constant of the model:
 * <ul>
 *   <li>a scalar {@code steer.SITE.coefficient} ({@link CompiledModelAbi.InputRole#COEFFICIENT}) becomes
 *       {@code [steer_batch, 1]} (it only feeds a {@code Mul} with the vector, which broadcasts);</li>
 *   <li>an input declared {@code [steer_batch, ...]} (a vector, a bank's index and scale, the prompt
 *       length) is made required with its declared type;</li>
 *   <li>any other (a bank {@code [K, hidden]}) stays an initializer and stops being an input.</li>
 * </ul>
 * The {@value CompiledModelAbi#RUNTIME_INPUTS} record is dropped: no input has a default left to override.
 */
public final class PerRowInputs implements Pass {
    private final List<String> perRow = new ArrayList<>();
    private final List<String> baked = new ArrayList<>();

    /** The inputs the last run made per-row and required, in graph order. */
    public List<String> perRow() {
        return List.copyOf(perRow);
    }

    /** The inputs the last run turned into constants, in graph order. */
    public List<String> baked() {
        return List.copyOf(baked);
    }

    @Override
    public PassResult run(Model model) {
        perRow.clear();
        baked.clear();
        Graph graph = model.graph();
        Map<String, ValueType> required = new LinkedHashMap<>();
        List<Value> constants = new ArrayList<>();
        for (Value input : graph.inputs()) {
            if (!input.isInitializer()) {
                continue;
            }
            ValueType.Tensor declared = input.tensorType();
            boolean coefficient = CompiledModelAbi.roleOf(input.name()).orElse(null)
                    == CompiledModelAbi.InputRole.COEFFICIENT;
            if (coefficient && input.initializer().dims().length == 0 && onlyFeedsMul(input)) {
                required.put(input.name(), CompiledModelAbi.perRow(input.initializer().type(), Dim.of(1)));
            } else if (CompiledModelAbi.isPerRow(declared)) {
                required.put(input.name(), declared);
            } else {
                constants.add(input);
            }
        }
        LiftInputDefaults.declaring(required).run(model);
        perRow.addAll(required.keySet());
        for (Value input : constants) {
            graph.removeInput(input);
            baked.add(input.name());
        }
        boolean recorded = model.metadata().remove(CompiledModelAbi.RUNTIME_INPUTS) != null;
        if (perRow.isEmpty() && baked.isEmpty() && !recorded) {
            return PassResult.unchanged("no input has a default");
        }
        return PassResult.changed("per-row inputs " + perRow + ", constants " + baked);
    }

    private static boolean onlyFeedsMul(Value value) {
        List<Use> uses = value.uses();
        return !uses.isEmpty() && uses.stream().allMatch(u -> u.node().opType().equals("Mul"));
    }
}
