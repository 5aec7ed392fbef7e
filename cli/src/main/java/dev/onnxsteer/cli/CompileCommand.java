package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.io.LoadCheck;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Condition;
import dev.onnxsteer.passes.ConditionPass;
import dev.onnxsteer.passes.ConditionRule;
import dev.onnxsteer.passes.Pass;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.OrthogonalizePass;
import dev.onnxsteer.passes.QuantisedBias;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.SteerPass;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer compile MODEL --vector FILE -o OUTDIR}: bake steering into a new model directory. */
@Command(name = "compile", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"Rewrite a model so steering vectors are added at chosen sites, into a new model directory.",
                "The output runs unmodified in any ONNX Runtime and records what was done in its metadata."})
final class CompileCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Mixin
    SteeringOptions steering;

    @Mixin
    ForceOption force;

    @Mixin
    ConditionOptions condition;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file.")
    Path model;

    @Option(names = {"-o", "--output"}, paramLabel = "OUTDIR", required = true, description = "Output model directory.")
    Path output;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json to carry over (default: the model's).")
    Path tokenizer;

    @Option(names = "--json", description = "Print what was done as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ModelFiles source = ModelFiles.locate(model, tokenizer);
        SteerOptions options = steering.options();
        List<Path> inputs = new ArrayList<>(steering.vectorFiles());
        inputs.add(model);
        List<Pass> gate = new ArrayList<>();
        if (condition.present()) {
            inputs.addAll(condition.files());
            gate.add(condition.pass(steering.largeVectors.allowLargeVectors));
        }
        // a condition gates a constant addend, so auto means add there even where a bias could absorb it
        Mode mode = condition.present() && steering.mode() == Mode.AUTO ? Mode.ADD : steering.mode();
        OutputTarget target = force.target(output, tokenizer).withInputs(inputs);
        Compilation.Result result = Compilation.compileTo(source, steering::steerings, mode, options, target,
                LoadCheck.installed(), gate);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode root = mapper.createObjectNode();
            root.put("output", output.toString());
            root.put("op", options.op().label());
            root.put("positions", options.positions().label());
            root.put("preserve_norm", options.preserveNorm());
            ArrayNode rewritten = root.putArray("rewritten_weights");
            for (OrthogonalizePass.Rewritten r : result.rewritten()) {
                ObjectNode w = rewritten.addObject();
                w.put("role", r.role());
                w.put("original", r.original());
                w.put("tensor", r.tensor());
                if (r.requantisation() != null) {
                    w.put("requantization_max_abs_error", r.requantisation().maxAbs());
                    w.put("requantization_max_error_in_scale_steps", r.requantisation().maxSteps());
                }
            }
            ArrayNode sites = root.putArray("sites");
            for (SteerPass.Applied applied : result.applied()) {
                ObjectNode site = sites.addObject();
                site.put("site", applied.site().name());
                site.put("tensor", applied.site().value().name());
                site.put("graph", applied.site().graph().name());
                site.put("mode", applied.mode().label());
                site.put("coefficient", applied.steering().coefficient());
                if (applied.directionTensor() != null) {
                    site.put("direction_tensor", applied.directionTensor());
                }
                if (applied.mode() == Mode.BIAS) {
                    site.put("folded_into", applied.tensor());
                }
            }
            ArrayNode notes = root.putArray("notes");
            result.notes().forEach(notes::add);
            for (Pass pass : gate) {
                ConditionPass gating = (ConditionPass) pass;
                List<Condition> all = gating.conditions();
                ObjectNode conditionNode = root.putObject("condition");
                conditionNode.put("rule", gating.rule().label());
                ArrayNode list = conditionNode.putArray("conditions");
                for (int i = 0; i < all.size(); i++) {
                    Condition c = all.get(i);
                    ObjectNode node = list.addObject();
                    node.put("file", condition.files().get(i).toString());
                    node.put("site", c.kind().label());
                    node.putPOJO("layers", c.directions().keySet());
                    node.put("threshold", c.threshold());
                    node.put("comparator", c.comparator().label());
                    node.put("aggregate", c.aggregate().label());
                    node.putPOJO("sources", condition.sources(i));
                }
            }
            out.println(mapper.writeValueAsString(root));
        } else {
            String what = describe(options);
            for (SteerPass.Applied applied : result.applied()) {
                out.printf("%-14s %s (mode %s)%s, at %s%s%n", applied.site().name(), what, applied.mode().label(),
                        strength(options.op(), applied.steering().coefficient()), applied.site().value().name(),
                        applied.mode() == Mode.BIAS ? " (folded into " + applied.tensor() + ")" : "");
            }
            for (SteerPass.Applied applied : result.applied()) {
                String why = steering.mode() == Mode.AUTO && applied.mode() == Mode.ADD
                        ? QuantisedBias.whyNot(applied.site()) : null;
                if (why != null) {
                    spec.commandLine().getErr().println("note: " + applied.site().name() + ": auto chose add: it " + why);
                }
            }
            result.notes().forEach(note -> spec.commandLine().getErr().println("note: " + note));
            for (OrthogonalizePass.Rewritten r : result.rewritten()) {
                out.printf("orthogonalized %-28s %s%s%n", r.role(), r.tensor(), r.requantisation() == null ? ""
                        : ", requantized: max error " + r.requantisation().describe());
            }
            for (Pass pass : gate) {
                ConditionPass gating = (ConditionPass) pass;
                List<Condition> all = gating.conditions();
                for (int i = 0; i < all.size(); i++) {
                    Condition c = all.get(i);
                    out.printf("condition      %s at %s layers %s, fires %s %s (%s of the prompt)%n", condition.files().get(i),
                            c.kind().label(), c.directions().keySet(), c.comparator().label(), c.threshold(),
                            c.aggregate().label());
                    out.println("               " + String.join("; ", condition.sources(i)));
                }
                if (all.size() > 1) {
                    out.println("condition rule " + gating.rule().label() + ": a row is steered when "
                            + (gating.rule() == ConditionRule.OR ? "any condition fires" : "every condition fires"));
                }
            }
            out.println("wrote " + output);
        }
        out.flush();
        return Main.OK;
    }

    /** What the coefficient means for the op; nothing for ablate, which uses only the direction. */
    private static String strength(SteerOp op, float coefficient) {
        return switch (op) {
            case ABLATE, ORTHOGONALIZE -> "";
            case CLAMP -> ", value " + coefficient;
            default -> ", coeff " + coefficient;
        };
    }

    static String describe(SteerOptions options) {
        return options.op().label() + (options.positions().isAll() ? "" : " positions " + options.positions())
                + (options.preserveNorm() ? " preserve-norm" : "") + (options.bank() ? " bank" : "");
    }
}
