package dev.onnxsteer.passes;

import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns chosen graph inputs that have initializer defaults into required inputs and keeps the
 * defaults, for a copy handed to a runtime that cannot override a defaulted input (ONNX Runtime's
 * Java API refuses to feed an input that has a same-named initializer) or that needs every input
 * fed (Triton). The runtime then feeds each default itself unless its caller overrides it. An input
 * may be given a new declared type as it is lifted (Triton's per-row coefficient). The one way in
 * the project to make a defaulted input required.
 */
public final class LiftInputDefaults implements Pass {
    private final Map<String, ValueType> chosen;
    private final Map<String, Tensor> defaults = new LinkedHashMap<>();

    /** @param types input name to the type it is declared with once lifted (null: keep its type) */
    private LiftInputDefaults(Map<String, ValueType> types) {
        this.chosen = types;
    }

    /** Lifts the inputs named in {@code names}, keeping their declared types. */
    public static LiftInputDefaults of(Collection<String> names) {
        Map<String, ValueType> types = new LinkedHashMap<>();
        names.forEach(n -> types.put(n, null));
        return new LiftInputDefaults(types);
    }

    /** Lifts the inputs named by the keys, each declared with its value as it is lifted. */
    public static LiftInputDefaults declaring(Map<String, ValueType> types) {
        return new LiftInputDefaults(new LinkedHashMap<>(types));
    }

    /** Inputs of the main graph named in {@code names} that have defaults, lifted; returns their defaults by name. */
    public static Map<String, Tensor> lift(Model model, Collection<String> names) {
        LiftInputDefaults pass = of(names);
        pass.run(model);
        return pass.defaults();
    }

    /** The defaults the last run removed, by input name, in graph input order. */
    public Map<String, Tensor> defaults() {
        return Collections.unmodifiableMap(defaults);
    }

    @Override
    public PassResult run(Model model) {
        return run(model.graph());
    }

    /**
     * As {@link #run(Model)} on {@code root}, the main graph of a model being edited in place.
     *
     * @throws IllegalStateException when a chosen name is no value of {@code root}
     */
    public PassResult run(Graph root) {
        for (String name : chosen.keySet()) {
            root.find(name).orElseThrow(() -> new IllegalStateException("no value " + name));
        }
        defaults.clear();
        List<Value> lifted = new ArrayList<>();
        for (Value input : root.inputs()) {
            if (chosen.containsKey(input.name()) && input.isInitializer()) {
                lifted.add(input);
            }
        }
        for (Value input : lifted) {
            defaults.put(input.name(), root.removeDefault(input));
            ValueType declared = chosen.get(input.name());
            if (declared != null) {
                input.setType(declared);
            }
        }
        return lifted.isEmpty() ? PassResult.unchanged("no chosen input has a default")
                : PassResult.changed("required inputs " + defaults.keySet());
    }

    /** Puts the defaults this pass removed back, so {@code model} is as it was before {@link #run}. */
    public void restore(Model model) {
        for (Map.Entry<String, Tensor> entry : defaults.entrySet()) {
            model.graph().find(entry.getKey()).ifPresent(v -> model.graph().makeInitializer(v, entry.getValue()));
        }
    }

    /** The names of the main-graph inputs with defaults that onnx-steer created: what a runtime may override. */
    public static List<String> steeringInputs(Model model) {
        return CompiledModelAbi.overridableInputs(model);
    }
}
