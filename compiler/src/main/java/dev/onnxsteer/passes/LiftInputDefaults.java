package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns chosen graph inputs that have initializer defaults into required inputs and returns the
 * defaults, for an in-memory copy handed to a runtime that cannot override a defaulted input (ONNX
 * Runtime's Java API refuses to feed an input that has a same-named initializer). The runtime then
 * feeds each default itself unless its caller overrides it. The file on disk keeps its defaults.
 */
public final class LiftInputDefaults {
    private LiftInputDefaults() {}

    /** Inputs of the main graph named in {@code names} that have defaults, lifted; returns their defaults by name. */
    public static Map<String, Tensor> lift(Model model, Collection<String> names) {
        Map<String, Tensor> defaults = new LinkedHashMap<>();
        List<Value> chosen = new ArrayList<>();
        for (Value input : model.graph().inputs()) {
            if (names.contains(input.name()) && input.isInitializer()) {
                chosen.add(input);
            }
        }
        for (Value input : chosen) {
            defaults.put(input.name(), model.graph().removeDefault(input));
        }
        return defaults;
    }

    /** The names of the main-graph inputs with defaults that onnx-steer created ({@code steer*}): what a runtime may override. */
    public static List<String> steeringInputs(Model model) {
        List<String> names = new ArrayList<>();
        for (Value input : model.graph().inputs()) {
            if (input.isInitializer() && input.name().startsWith("steer")) {
                names.add(input.name());
            }
        }
        return names;
    }
}
