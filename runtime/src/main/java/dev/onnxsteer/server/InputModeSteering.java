package dev.onnxsteer.server;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.passes.FusedNorms;
import dev.onnxsteer.passes.LiftInputDefaults;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.passes.SteerPass;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.function.BiFunction;

/**
 * Per-row steering through the inputs of an {@link Mode#INPUT} compile: the model gets one {@code
 * steer.SITE.vector [batch, hidden]} input (and a scalar {@code steer.SITE.coefficient}) at every
 * site it is prepared for (those the registered vectors use, and those uploads may use), and row {@code r} of a batch is fed {@code sum(scale_t *
 * vector_t[layer])} over its request's terms (zeros when unsteered, which adds exactly nothing).
 * Any mix of vectors per row works, with exactly the arithmetic of a compile with the same
 * vectors and coefficients.
 *
 * <p>Prepared with the ablate/clamp stage, each site also takes {@code steer.SITE.direction [batch,
 * hidden]}: the input-mode ablate of {@link SteerPass} ({@code x - (x.r)r} with {@code r} the fed row
 * normalised; a zero row is the identity, bit for bit) runs before the addition, so a row's site computes
 * {@code ablate_r(x) + a}. An ablate entry feeds its vector as the direction; a clamp entry feeds it too and
 * adds {@code value * r}, which sets the projection on {@code r} to the value; add entries and unsteered
 * rows feed a zero direction. One batch can so mix rows that add, ablate, clamp or do nothing.
 *
 * <p>ONNX Runtime's Java API refuses to feed inputs that have an initializer of the same name, so
 * {@link #prepare} turns those defaults into required inputs of the in-memory model.
 */
public final class InputModeSteering implements RowSteering {
    /** One steered site: its input names (direction null without the ablate/clamp stage), its hidden size, and which layer of which kind it is. */
    private record SiteInput(SiteKind kind, int layer, String vectorInput, String coefficientInput, String directionInput,
            int hidden) {
        String siteName() {
            return kind.label() + "." + layer;
        }
    }

    private final List<SiteInput> inputs;
    private final Map<SiteKind, SortedSet<Integer>> steerable;
    private final SiteMap sites;
    private final boolean directions;

    private InputModeSteering(List<SiteInput> inputs, Map<SiteKind, SortedSet<Integer>> steerable, SiteMap sites,
            boolean directions) {
        this.inputs = List.copyOf(inputs);
        this.steerable = steerable;
        this.sites = sites;
        this.directions = directions;
    }

    /**
     * Rewrites {@code model} (found to have {@code sites}) so every site in {@code steerable} (site kind
     * to layers) takes a per-row vector input, and returns the steering that feeds them. With nothing
     * steerable the model is left alone.
     */
    public static InputModeSteering prepare(Model model, SiteMap sites, Map<SiteKind, SortedSet<Integer>> steerable) {
        return prepare(model, sites, steerable, false);
    }

    /**
     * Like {@link #prepare(Model, SiteMap, Map)}; with {@code ablateClamp} every steerable site also gets
     * the per-row direction stage that ablate and clamp entries use.
     */
    public static InputModeSteering prepare(Model model, SiteMap sites, Map<SiteKind, SortedSet<Integer>> steerable,
            boolean ablateClamp) {
        Map<SiteKind, SortedSet<Integer>> copy = new LinkedHashMap<>();
        steerable.forEach((kind, layers) -> copy.put(kind, Collections.unmodifiableSortedSet(new TreeSet<>(layers))));
        List<SiteInput> inputs = new ArrayList<>();
        List<Steering> plain = new ArrayList<>();
        List<Steering> fused = new ArrayList<>();
        Graph root = model.graph();
        for (Map.Entry<SiteKind, SortedSet<Integer>> used : copy.entrySet()) {
            for (int layer : used.getValue()) {
                List<Site> copies = sites.find(used.getKey(), layer);
                int hidden = (int) copies.get(0).hiddenSize();
                String base = "steer." + used.getKey().label() + "." + layer;
                perRowInput(root, base + ".vector", hidden);
                root.addInput(root.addInitializer(base + ".coefficient", Tensor.scalar(1f)));
                String direction = ablateClamp ? perRowInput(root, root.names().fresh(base + ".direction"), hidden).name()
                        : null;
                inputs.add(new SiteInput(used.getKey(), layer, base + ".vector", base + ".coefficient", direction, hidden));
                boolean skipNorm = copies.stream().anyMatch(site -> FusedNorms.isSkipNormSum(site.value()));
                (skipNorm ? fused : plain).add(new Steering(used.getKey(), layer, new float[hidden], 1f));
            }
        }
        if (inputs.isEmpty()) {
            return new InputModeSteering(inputs, Map.of(), sites, ablateClamp);
        }
        // the ablation must see the site before the addition: after the Add a plain site's readers read,
        // before the Add a fused skip norm's input gets
        if (!plain.isEmpty()) {
            new SteerPass(sites, plain, Mode.INPUT).run(model);
        }
        if (ablateClamp) {
            directionStage(model, sites, inputs);
        }
        if (!fused.isEmpty()) {
            new SteerPass(sites, fused, Mode.INPUT).run(model);
        }
        Map<String, ValueType> required = new LinkedHashMap<>();
        for (SiteInput input : inputs) {
            required.put(input.vectorInput(), CompiledModelAbi.vectorType(input.hidden()));
            required.put(input.coefficientInput(), ValueType.Tensor.of(DataType.FLOAT));
            if (input.directionInput() != null) {
                required.put(input.directionInput(), CompiledModelAbi.vectorType(input.hidden()));
            }
        }
        LiftInputDefaults.declaring(required).run(model);
        return new InputModeSteering(inputs, Collections.unmodifiableMap(copy), sites, ablateClamp);
    }

    /**
     * SteerPass's input-mode ablate at every site, reading {@code steer.SITE.direction}: the pass reads the
     * input named {@code steer.SITE.vector} when the model has one, so the direction carries that name
     * while the pass runs.
     */
    private static void directionStage(Model model, SiteMap sites, List<SiteInput> inputs) {
        Graph root = model.graph();
        List<Steering> unit = new ArrayList<>();
        for (SiteInput input : inputs) {
            float[] placeholder = new float[input.hidden()];
            placeholder[0] = 1f; // ablate refuses a zero default; the default is removed with the other defaults
            unit.add(new Steering(input.kind(), input.layer(), placeholder, 1f));
            swap(root, input);
        }
        try {
            new SteerPass(sites, unit, Mode.INPUT, SteerOptions.of(SteerOp.ABLATE)).run(model);
        } finally {
            inputs.forEach(input -> swap(root, input));
        }
    }

    private static void swap(Graph root, SiteInput input) {
        root.find(input.vectorInput()).orElseThrow().swapNames(root.find(input.directionInput()).orElseThrow());
    }

    /** A {@code [steer_batch, hidden]} float input whose one-row zero default lets the passes read its shape. */
    private static Value perRowInput(Graph root, String name, int hidden) {
        Value value = root.addInitializer(name, Tensor.ofFloats(new long[] {1, hidden}, new float[hidden]));
        value.setType(CompiledModelAbi.vectorType(hidden));
        root.addInput(value);
        return value;
    }


    /** The sites this steering has inputs for: site kind to layers. */
    public Map<SiteKind, SortedSet<Integer>> steerable() {
        return steerable;
    }

    /** Whether requests may ablate and clamp (the sites have the direction stage). */
    public boolean ablateClamp() {
        return directions;
    }

    /** The names of the inputs this feeds. */
    public List<String> inputNames() {
        List<String> names = new ArrayList<>();
        for (SiteInput input : inputs) {
            names.add(input.vectorInput());
            names.add(input.coefficientInput());
            if (input.directionInput() != null) {
                names.add(input.directionInput());
            }
        }
        return names;
    }

    @Override
    public void validate(BoundSteering steering) {
        plan(steering);
    }

    /**
     * The per-site steering of each of a request's entries, in entry order, as the library's plan gives
     * it (what {@code generate} with the same vector, scale, layers and op would compile).
     *
     * @throws IllegalArgumentException as {@link #validate}
     */
    public List<Steering> perSite(BoundSteering steering) {
        return plan(steering).perSite();
    }

    private RowPlan plan(BoundSteering steering) {
        return RowPlan.of(steering, sites, steerable, directions);
    }

    @Override
    public BatchInputs inputsFor(List<BoundSteering> rows) {
        List<RowPlan> plans = rows.stream().map(this::plan).toList();
        int batch = rows.size();
        List<OnnxTensor> created = new ArrayList<>();
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (SiteInput input : inputs) {
                tensors.put(input.vectorInput(), perRow(created, plans, input, RowPlan::addend));
                OnnxTensor one = OnnxTensor.createTensor(Ort.env(), 1f);
                created.add(one);
                tensors.put(input.coefficientInput(), one);
                if (input.directionInput() != null) {
                    tensors.put(input.directionInput(), perRow(created, plans, input, RowPlan::direction));
                }
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

    /** A {@code [batch, hidden]} tensor whose row r is what {@code part} gives row r's plan at the site (zeros for none). */
    private static OnnxTensor perRow(List<OnnxTensor> created, List<RowPlan> plans, SiteInput input,
            BiFunction<RowPlan, String, float[]> part) throws OrtException {
        float[] values = new float[plans.size() * input.hidden()];
        for (int r = 0; r < plans.size(); r++) {
            float[] v = part.apply(plans.get(r), input.siteName());
            if (v != null) {
                System.arraycopy(v, 0, values, r * input.hidden(), input.hidden());
            }
        }
        OnnxTensor tensor = OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(values), new long[] {plans.size(), input.hidden()});
        created.add(tensor);
        return tensor;
    }
}
