package dev.onnxsteer.passes;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteMap;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Gates a constant {@code add} steering with one or more {@link Condition}s computed in the graph (CAST).
 * Per row, the hidden state at each condition site is averaged over the prompt's real tokens (or taken at
 * the last one), each condition's similarity is compared with its threshold, several conditions combine
 * by their {@link ConditionRule}, and every added {@code c*v} is multiplied by the row's decision. The
 * decision is state: {@value CompiledModelAbi#CONDITION_PAST} in, {@value CompiledModelAbi#CONDITION_PRESENT}
 * out, fed back like the KV cache; a run whose past is not empty reuses the decision it finds there, so
 * decode steps keep the prompt's decision, and a full recompute (empty past, the whole sequence,
 * {@value CompiledModelAbi#PROMPT_LENGTH_INPUT} saying where the prompt ends) decides the same from the
 * same prompt tokens.
 */
public final class ConditionPass implements AfterSteering {
    private static final String SCOPE = "/onnx_steer/condition/";
    private final Function<SiteMap, List<Condition>> conditionsFor;
    private final ConditionRule rule;
    private List<Condition> conditions;
    private SiteMap sites;
    private SteerPass steer;

    public ConditionPass(Condition condition) {
        this(sites -> List.of(condition), ConditionRule.OR);
    }

    /**
     * Conditions chosen once the model's sites are known (so their layers can be checked against them),
     * combined by {@code rule}.
     */
    public ConditionPass(Function<SiteMap, List<Condition>> conditionsFor, ConditionRule rule) {
        this.conditionsFor = conditionsFor;
        this.rule = rule;
    }

    @Override
    public void bind(SiteMap sites, SteerPass steer) {
        this.sites = sites;
        this.steer = steer;
        this.conditions = List.copyOf(conditionsFor.apply(sites));
        if (conditions.isEmpty()) {
            throw new IllegalArgumentException("a condition pass needs one condition at least");
        }
    }

    /** The conditions compiled, once bound, in the order given. */
    public List<Condition> conditions() {
        return conditions;
    }

    public ConditionRule rule() {
        return rule;
    }

    @Override
    public PassResult run(Model model) {
        if (steer == null) {
            throw new IllegalArgumentException("a condition gates in-graph steering; it cannot gate an orthogonalization");
        }
        Graph root = model.graph();
        List<Value> addends = addends(root);
        List<List<Site>> conditionSites = new ArrayList<>();
        for (Condition condition : conditions) {
            conditionSites.add(conditionSites(root, condition, addends));
        }
        if (model.opset() < 13) {
            throw new BadModelException("conditional steering needs opset 13 or later; this model has opset " + model.opset());
        }
        Value ids = mainInput(root, "input_ids");
        Value mask = mainInput(root, "attention_mask");
        Value gate = decision(model, root, ids, mask, conditionSites);
        Value gate3 = Unsqueeze.axis(model, root, SCOPE + "gate/Unsqueeze", gate, 2);
        for (Value addend : addends) {
            Value gated = root.op("Mul").name(root.names().fresh(SCOPE + "gate/Mul")).inputs(addend, gate3).value();
            for (Use use : addend.uses()) {
                if (use.node() != gated.producer()) {
                    use.node().setInput(use.index(), gated);
                }
            }
        }
        model.metadata().put(CompiledModelAbi.CONDITION, describe());
        // the prompt length input this pass may add must be fed by runtimes, as Provenance records for its own
        model.metadata().put(CompiledModelAbi.RUNTIME_INPUTS, String.join(",", CompiledModelAbi.overridableInputs(model)));
        root.sortTopologically();
        int siteCount = conditionSites.stream().mapToInt(List::size).sum();
        return PassResult.changed(conditions.size() + " condition(s) at " + siteCount + " site(s) gating " + addends.size()
                + " addend(s)");
    }

    /** The initializers carrying each added {@code c*v}; anything else is refused before an edit. */
    private List<Value> addends(Graph root) {
        List<Value> addends = new ArrayList<>();
        for (SteerPass.Applied applied : steer.applied()) {
            if (applied.options().op() != SteerOp.ADD || applied.mode() != Mode.ADD || applied.tensor() == null) {
                throw new IllegalArgumentException("a condition gates --op add in --mode add; this steering is --op "
                        + applied.options().op().label() + " in --mode " + applied.mode().label());
            }
            if (applied.site().graph() != root) {
                throw new BadModelException("a condition needs the steered sites in the main graph; "
                        + applied.site().name() + " is inside a subgraph");
            }
            Value tensor = root.find(applied.tensor()).orElseThrow(() -> new IllegalStateException(
                    "steering tensor " + applied.tensor() + " is not in the graph"));
            addends.add(tensor);
        }
        if (addends.isEmpty()) {
            throw new IllegalArgumentException("a condition needs a steering to gate; nothing was steered");
        }
        return addends;
    }

    private List<Site> conditionSites(Graph root, Condition condition, List<Value> addends) {
        List<Site> found = new ArrayList<>();
        for (Map.Entry<Integer, float[]> e : condition.directions().entrySet()) {
            int layer = e.getKey();
            if (layer < 0 || layer >= sites.layerCount()) {
                throw new BadVectorException("condition layer " + layer + " is not a layer of this model, which has layers 0.."
                        + (sites.layerCount() - 1));
            }
            List<Site> at = sites.find(condition.kind(), layer);
            if (at.size() != 1 || at.get(0).graph() != root) {
                throw new BadModelException("condition site " + condition.kind().label() + "." + layer
                        + " must be one site in the main graph; found " + at.size());
            }
            Site site = at.get(0);
            if (e.getValue().length != site.hiddenSize()) {
                throw new BadVectorException("condition vector has " + e.getValue().length + " values but "
                        + site.name() + " of this model has hidden size " + site.hiddenSize());
            }
            ValueType.Tensor type = site.value().tensorType();
            if (type != null && type.elementType() != DataType.FLOAT) {
                throw new BadModelException("condition site " + site.name() + " is " + type
                        + "; conditions are computed on float32 hidden states");
            }
            if (dependsOn(site.value(), addends)) {
                throw new IllegalArgumentException("condition site " + site.name() + " comes after a steered site; the "
                        + "condition must be read before the behaviour it gates (choose an earlier condition layer)");
            }
            found.add(site);
        }
        return found;
    }

    private static boolean dependsOn(Value value, List<Value> addends) {
        Set<Value> targets = new HashSet<>(addends);
        Set<Node> seen = new HashSet<>();
        Deque<Value> todo = new ArrayDeque<>(List.of(value));
        while (!todo.isEmpty()) {
            Value v = todo.pop();
            if (targets.contains(v)) {
                return true;
            }
            Node producer = v.producer();
            if (producer != null && seen.add(producer)) {
                for (int i = 0; i < producer.inputCount(); i++) {
                    if (producer.input(i) != null) {
                        todo.push(producer.input(i));
                    }
                }
            }
        }
        return false;
    }

    private static Value mainInput(Graph root, String name) {
        return root.inputs().stream().filter(v -> v.name().equals(name) && !v.isInitializer()).findFirst()
                .orElseThrow(() -> new BadModelException("conditional steering needs the model's " + name + " input; inputs "
                        + "are " + root.inputs().stream().map(Value::name).toList()));
    }

    /** float32 {@code [batch, 1]}: the past's decision when there is one, else this run's. */
    private Value decision(Model model, Graph root, Value ids, Value mask, List<List<Site>> conditionSites) {
        Value meanWeights = promptWeights(model, root, ids, mask);
        Value lastWeights = null;
        Value fired = null;
        for (int i = 0; i < conditions.size(); i++) {
            Condition condition = conditions.get(i);
            Value weights = meanWeights;
            if (condition.aggregate() == Condition.Aggregate.LAST) {
                lastWeights = lastWeights != null ? lastWeights : lastOf(root, ids, meanWeights);
                weights = lastWeights;
            }
            Value conditionFired = null;
            for (Site site : conditionSites.get(i)) {
                Value layerFired = fires(model, root, condition, site, weights);
                conditionFired = conditionFired == null ? layerFired
                        : root.op("Or").name(SCOPE + "Or").inputs(conditionFired, layerFired).value();
            }
            fired = fired == null ? conditionFired : root.op(rule.operator()).name(SCOPE + "rule/" + rule.operator())
                    .inputs(fired, conditionFired).value();
        }
        Value fresh = root.op("Cast").name(SCOPE + "fresh/Cast").inputs(fired).attr("to", (long) DataType.FLOAT.code())
                .value();
        Value past = root.addInput(CompiledModelAbi.CONDITION_PAST,
                ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch_size"), Dim.param(CompiledModelAbi.CONDITION_PAST_DIM)));
        Value both = root.op("Concat").name(SCOPE + "Concat").inputs(past, fresh).attr("axis", 1L).value();
        Value decided = root.op("Slice").name(SCOPE + "first/Slice")
                .inputs(both, longs(root, "zero", 0), longs(root, "one", 1), longs(root, "one", 1)).value();
        Value total = root.op("Shape").name(SCOPE + "total/Shape").inputs(mask).value();
        Value present = root.op("Expand").name(SCOPE + "present/Expand").inputs(decided, total)
                .outputs(CompiledModelAbi.CONDITION_PRESENT).value();
        present.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.param("batch_size"), Dim.param("total_sequence_length")));
        root.addOutput(present);
        return decided;
    }

    /**
     * float32 {@code [batch, seq]}: 1 at this run's prompt tokens that the attention mask keeps (the mean's
     * weights). Prompt positions are the {@link PositionMask} rule {@code prompt}.
     */
    private Value promptWeights(Model model, Graph root, Value ids, Value mask) {
        Value isPrompt = new PositionMask(model, Positions.parse("prompt")).mask();
        Value prompt2 = root.op("Squeeze").name(SCOPE + "prompt/Squeeze").inputs(isPrompt, longs(root, "two", 2)).value();
        Value seq = gather(root, root.op("Shape").name(SCOPE + "seq/Shape").inputs(ids).value(), 1, "seq");
        Value total = gather(root, root.op("Shape").name(SCOPE + "mask/Shape").inputs(mask).value(), 1, "total");
        Value start = root.op("Sub").name(SCOPE + "past/Sub").inputs(total, seq).value();
        Value startVec = Unsqueeze.axis(model, root, SCOPE + "past/Unsqueeze", start, 0);
        Value realMask = root.op("Slice").name(SCOPE + "mask/Slice")
                .inputs(mask, startVec, longs(root, "end", Long.MAX_VALUE), longs(root, "one", 1)).value();
        Value real = root.op("Cast").name(SCOPE + "mask/Cast").inputs(realMask).attr("to", (long) DataType.BOOL.code())
                .value();
        Value both = root.op("And").name(SCOPE + "prompt/And").inputs(prompt2, real).value();
        return root.op("Cast").name(SCOPE + "weights/Cast").inputs(both).attr("to", (long) DataType.FLOAT.code())
                .value();
    }

    /** float32 {@code [batch, seq]}: 1 at the last prompt token that {@code weights} (the mean's) keeps. */
    private static Value lastOf(Graph root, Value ids, Value weights) {
        Value seq = gather(root, root.op("Shape").name(SCOPE + "seq/Shape").inputs(ids).value(), 1, "seq");
        // the last prompt token is the highest offset with weight 1: argmax of weight * (offset + 1)
        Value range = root.op("Range").name(SCOPE + "last/Range")
                .inputs(scalar(root, "zero_s", 0), seq, scalar(root, "one_s", 1)).value();
        Value offsets = root.op("Cast").name(SCOPE + "last/Cast").inputs(
                root.op("Add").name(SCOPE + "last/Add").inputs(range, scalar(root, "one_s", 1)).value())
                .attr("to", (long) DataType.FLOAT.code()).value();
        Value ranked = root.op("Mul").name(SCOPE + "last/Mul").inputs(weights, offsets).value();
        Value last = root.op("ArgMax").name(SCOPE + "last/ArgMax").inputs(ranked).attr("axis", 1L).attr("keepdims", 1L)
                .value();
        Value isLast = root.op("Equal").name(SCOPE + "last/Equal").inputs(range, last).value();
        return root.op("Cast").name(SCOPE + "last/Cast_1").inputs(isLast).attr("to", (long) DataType.FLOAT.code()).value();
    }

    /** bool {@code [batch, 1]}: whether the condition fires at {@code site}. */
    private Value fires(Model model, Graph root, Condition condition, Site site, Value weights) {
        String scope = SCOPE + site.name() + "/";
        float[] c = condition.directions().get(site.layer());
        int n = c.length;
        double cc = 0;
        for (float x : c) {
            cc += (double) x * x;
        }
        if (cc == 0) {
            throw new BadVectorException("condition vector for layer " + site.layer() + " is zero");
        }
        float[] projector = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                projector[i * n + j] = (float) (c[i] * (double) c[j] / cc);
            }
        }
        Value p = root.addInitializer(root.names().fresh("onnx_steer.condition.projector." + site.layer()),
                Tensor.ofFloats(new long[] {n, n}, projector));
        Value w3 = Unsqueeze.axis(model, root, scope + "weights/Unsqueeze", weights, 1);
        // a right-padded batch's pad rows of the site may hold anything (GroupQueryAttention leaves them unwritten),
        // and 0 x NaN is NaN: the sum reads only the kept positions
        Value zero = root.addInitializer(root.names().fresh("onnx_steer.condition.zero_f"), Tensor.scalar(0f));
        Value kept = Unsqueeze.axis(model, root, scope + "kept/Unsqueeze",
                root.op("Greater").name(scope + "kept/Greater").inputs(weights, zero).value(), 2);
        Value values = root.op("Where").name(scope + "kept/Where").inputs(kept, site.value(), zero).value();
        Value summed = root.op("MatMul").name(scope + "sum/MatMul").inputs(w3, values).value();
        Value sum2 = root.op("Squeeze").name(scope + "sum/Squeeze").inputs(summed, longs(root, "one", 1)).value();
        Value count = root.op("ReduceSum").name(scope + "count/ReduceSum").inputs(weights, longs(root, "one", 1)).value();
        Value h = root.op("Div").name(scope + "mean/Div").inputs(sum2, count).value();
        Value projected = root.op("Tanh").name(scope + "Tanh")
                .inputs(root.op("MatMul").name(scope + "projector/MatMul").inputs(h, p).value()).value();
        Value onesHidden = ones(root, n);
        Value dot = root.op("MatMul").name(scope + "dot/MatMul")
                .inputs(root.op("Mul").name(scope + "dot/Mul").inputs(h, projected).value(), onesHidden).value();
        Value hh = root.op("MatMul").name(scope + "hh/MatMul")
                .inputs(root.op("Mul").name(scope + "hh/Mul").inputs(h, h).value(), onesHidden).value();
        Value pp = root.op("MatMul").name(scope + "pp/MatMul")
                .inputs(root.op("Mul").name(scope + "pp/Mul").inputs(projected, projected).value(), onesHidden).value();
        Value norms = root.op("Mul").name(scope + "norms/Mul").inputs(
                root.op("Sqrt").name(scope + "hh/Sqrt").inputs(hh).value(),
                root.op("Sqrt").name(scope + "pp/Sqrt").inputs(pp).value()).value();
        Value similarity = root.op("Div").name(scope + "cos/Div").inputs(dot, norms).value();
        Value threshold = root.addInitializer(root.names().fresh("onnx_steer.condition.threshold"),
                Tensor.scalar(condition.threshold()));
        String compare = condition.comparator() == Condition.Comparator.ABOVE ? "Greater" : "Less";
        return root.op(compare).name(scope + compare).inputs(similarity, threshold).value();
    }

    private static Value ones(Graph root, int n) {
        float[] values = new float[n];
        Arrays.fill(values, 1f);
        return root.addInitializer(root.names().fresh("onnx_steer.condition.ones_" + n),
                Tensor.ofFloats(new long[] {n, 1}, values));
    }

    private static Value gather(Graph root, Value shape, long index, String label) {
        return root.op("Gather").name(SCOPE + label + "/Gather").inputs(shape, scalar(root, "idx" + index, index))
                .attr("axis", 0L).value();
    }

    private static Value longs(Graph root, String label, long value) {
        return root.addInitializer(root.names().fresh("onnx_steer.condition." + label), Tensor.vector(value));
    }

    private static Value scalar(Graph root, String label, long value) {
        return root.addInitializer(root.names().fresh("onnx_steer.condition." + label), Tensor.scalar(value));
    }

    /** One condition as before several existed (readers of that format keep working); several under a rule. */
    private String describe() {
        ObjectMapper mapper = new ObjectMapper();
        if (conditions.size() == 1) {
            return describe(mapper, conditions.get(0)).toString();
        }
        ObjectNode node = mapper.createObjectNode();
        node.put("rule", rule.label());
        ArrayNode all = node.putArray("conditions");
        for (Condition condition : conditions) {
            all.add(describe(mapper, condition));
        }
        return node.toString();
    }

    private static ObjectNode describe(ObjectMapper mapper, Condition condition) {
        ObjectNode node = mapper.createObjectNode();
        node.put("site", condition.kind().label());
        node.putPOJO("layers", condition.directions().keySet());
        node.put("threshold", condition.threshold());
        node.put("comparator", condition.comparator().label());
        node.put("aggregate", condition.aggregate().label());
        ObjectNode hashes = node.putObject("vector_sha256");
        condition.directions().forEach((layer, v) -> hashes.put(Integer.toString(layer), Provenance.sha256(v)));
        return node;
    }
}
