package dev.onnxsteer.server;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.passes.LiftInputDefaults;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.passes.SteerPass;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;

/**
 * Per-row steering through the inputs of an {@link Mode#INPUT} compile: the model gets one {@code
 * steer.SITE.vector [batch, hidden]} input (and a scalar {@code steer.SITE.coefficient}) at every
 * site it is prepared for (those the registered vectors use, and those uploads may use), and row {@code r} of a batch is fed {@code sum(scale_t *
 * vector_t[layer])} over its request's terms (zeros when unsteered, which adds exactly nothing).
 * Any mix of vectors per row works, with exactly the arithmetic of a compile with the same
 * vectors and coefficients.
 *
 * <p>ONNX Runtime's Java API refuses to feed inputs that have an initializer of the same name, so
 * {@link #prepare} turns those defaults into required inputs of the in-memory model.
 */
public final class InputModeSteering implements RowSteering {
    /** One steered site: its input names, its hidden size, and which layer of which kind it is. */
    private record SiteInput(SiteKind kind, int layer, String vectorInput, String coefficientInput, int hidden) {}

    private final List<SiteInput> inputs;
    private final Map<SiteKind, SortedSet<Integer>> steerable;

    private InputModeSteering(List<SiteInput> inputs, Map<SiteKind, SortedSet<Integer>> steerable) {
        this.inputs = List.copyOf(inputs);
        this.steerable = steerable;
    }

    /**
     * Rewrites {@code model} (found to have {@code sites}) so every site in {@code steerable} (site kind
     * to layers) takes a per-row vector input, and returns the steering that feeds them. With nothing
     * steerable the model is left alone.
     */
    public static InputModeSteering prepare(Model model, SiteMap sites, Map<SiteKind, SortedSet<Integer>> steerable) {
        Map<SiteKind, SortedSet<Integer>> copy = new LinkedHashMap<>();
        steerable.forEach((kind, layers) -> copy.put(kind, java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(layers))));
        List<Steering> zero = new ArrayList<>();
        for (Map.Entry<SiteKind, SortedSet<Integer>> used : copy.entrySet()) {
            for (int layer : used.getValue()) {
                int hidden = (int) sites.find(used.getKey(), layer).get(0).hiddenSize();
                zero.add(new Steering(used.getKey(), layer, new float[hidden], 1f));
            }
        }
        List<SiteInput> inputs = new ArrayList<>();
        if (zero.isEmpty()) {
            return new InputModeSteering(inputs, Map.of());
        }
        SteerPass pass = new SteerPass(sites, zero, Mode.INPUT);
        pass.apply(model);
        Map<String, SiteInput> byName = new LinkedHashMap<>();
        for (SteerPass.Applied applied : pass.applied()) {
            Steering s = applied.steering();
            byName.putIfAbsent(applied.tensor(), new SiteInput(s.kind(), s.layer(), applied.tensor(),
                    applied.coefficientTensor(), s.vector().length));
        }
        for (SiteInput input : byName.values()) {
            lift(model.graph(), input.vectorInput(),
                    ValueType.Tensor.of(DataType.FLOAT, Dim.param(SteerPass.BATCH_DIM), Dim.of(input.hidden())));
            lift(model.graph(), input.coefficientInput(), ValueType.Tensor.of(DataType.FLOAT));
            inputs.add(input);
        }
        return new InputModeSteering(inputs, java.util.Collections.unmodifiableMap(copy));
    }

    /** The sites this steering has inputs for: site kind to layers. */
    public Map<SiteKind, SortedSet<Integer>> steerable() {
        return steerable;
    }

    /** Makes the initializer-backed input {@code name} a plain required input of the same name, declared {@code type}. */
    static void lift(Graph root, String name, ValueType type) {
        LiftInputDefaults.declaring(Map.of(name, type)).run(root);
    }

    /** The names of the inputs this feeds. */
    public List<String> inputNames() {
        List<String> names = new ArrayList<>();
        for (SiteInput input : inputs) {
            names.add(input.vectorInput());
            names.add(input.coefficientInput());
        }
        return names;
    }

    @Override
    public void validate(BoundSteering steering) {
        for (SteeringTerm term : steering.terms()) {
            VectorRegistry.Entry entry = steering.vectors().find(term.vector()).orElseThrow(() ->
                    new IllegalArgumentException("unknown vector '" + term.vector() + "'; known vectors: "
                            + steering.vectors().names()));
            if (term.hasRange()) {
                checkRange(term, entry);
            }
        }
    }

    /** A range must select at least one layer of the vector, and only layers this model steers. */
    private void checkRange(SteeringTerm term, VectorRegistry.Entry entry) {
        SortedSet<Integer> steered = steerable.getOrDefault(entry.kind(), java.util.Collections.emptySortedSet());
        boolean any = false;
        for (int layer = term.fromLayer(); layer <= term.toLayer(); layer++) {
            if (term.vectorAt(entry, layer) == null) {
                continue;
            }
            if (!steered.contains(layer)) {
                throw new IllegalArgumentException("layers [" + term.fromLayer() + ", " + term.toLayer() + "] of "
                        + term.vector() + ": this server steers " + entry.kind().label() + " only at layers " + steered);
            }
            any = true;
        }
        if (!any) {
            throw new IllegalArgumentException("layers [" + term.fromLayer() + ", " + term.toLayer() + "] leave nothing of "
                    + term.vector() + ", which has layers " + entry.vectors().layerIndices());
        }
    }

    @Override
    public BatchInputs inputsFor(List<BoundSteering> rows) {
        rows.forEach(this::validate);
        int batch = rows.size();
        List<OnnxTensor> created = new ArrayList<>();
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (SiteInput input : inputs) {
                float[] values = new float[batch * input.hidden()];
                for (int r = 0; r < batch; r++) {
                    for (SteeringTerm term : rows.get(r).terms()) {
                        VectorRegistry.Entry entry = rows.get(r).vectors().find(term.vector()).orElseThrow();
                        float[] v = entry.kind() == input.kind() ? term.vectorAt(entry, input.layer()) : null;
                        if (v == null) {
                            continue;
                        }
                        int base = r * input.hidden();
                        for (int i = 0; i < v.length; i++) {
                            values[base + i] += term.scale() * v[i];
                        }
                    }
                }
                OnnxTensor vector = OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(values),
                        new long[] {batch, input.hidden()});
                created.add(vector);
                tensors.put(input.vectorInput(), vector);
                OnnxTensor one = OnnxTensor.createTensor(Ort.env(), 1f);
                created.add(one);
                tensors.put(input.coefficientInput(), one);
            }
        } catch (OrtException e) {
            created.forEach(OnnxTensor::close);
            throw new InferenceException("cannot create steering inputs: " + e.getMessage(), e);
        }
        Map<String, OnnxTensor> fixed = Map.copyOf(tensors);
        return new BatchInputs() {
            @Override
            public Map<String, OnnxTensor> forStep(Step step) {
                return fixed;
            }

            @Override
            public void close() {
                created.forEach(OnnxTensor::close);
            }
        };
    }
}
