package dev.onnxsteer.passes;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds, once, a {@code [batch, seq, 1]} bool tensor in the main graph saying which positions a
 * {@link Positions} rule steers; {@link SteerGraphs} reads it through {@link #mask()} (which runs this
 * pass the first time). The position of a token is its {@code position_ids} entry, else its index among
 * its row's unmasked tokens (cumsum of the attention mask - 1), else past length + its offset in the run
 * (past length = the past cache's length). A rule that needs the prompt length adds the {@value CompiledModelAbi#PROMPT_LENGTH_INPUT}
 * input (see {@link Positions}).
 */
final class PositionMask implements Pass {
    private static final Pattern OPTIMUM_PAST = Pattern.compile("past_key_values\\.\\d+\\.key");
    private static final Pattern COMBINED_PAST = Pattern.compile("past_\\d+");
    private static final String SCOPE = "/onnx_steer/positions/";

    private final Model model;
    private final Graph root;
    private final Positions rule;
    private Value mask;
    private final Map<Positions.Kind, Value> cache = new EnumMap<>(Positions.Kind.class);
    private Value positions;
    private Value pastLength;
    private Value seqLength;

    PositionMask(Model model, Positions rule) {
        this.model = model;
        this.root = model.graph();
        this.rule = rule;
    }

    /** Refuses a rule the model's inputs cannot support, before any edit. */
    void check() {
        if (rule.isAll()) {
            return;
        }
        if (input("input_ids").isEmpty()) {
            throw new BadModelException("--positions " + rule + " needs the token positions, but the model has no "
                    + "input_ids input to count them from; inputs are "
                    + root.inputs().stream().map(Value::name).toList());
        }
    }

    @Override
    public PassResult run(Model target) {
        if (target != model) {
            throw new IllegalArgumentException("this position mask was made for another model");
        }
        if (mask != null) {
            return PassResult.unchanged("the mask for positions " + rule + " exists");
        }
        check();
        Value pos = positions();
        Value steered = switch (rule.kind()) {
            case FIRST -> less(pos, constant(rule.n()));
            case FROM -> not(less(pos, constant(rule.n())));
            case PROMPT -> isPrompt();
            case GENERATED -> not(isPrompt());
            case ALL -> throw new IllegalArgumentException("no mask for all positions");
        };
        mask = Unsqueeze.axis(model, root, SCOPE + rule.label().replace(':', '_') + "/Unsqueeze", steered, 2);
        return PassResult.changed("mask of positions " + rule);
    }

    /** The {@code [batch, seq, 1]} mask for the rule (not ALL), built on first use. */
    Value mask() {
        if (mask == null) {
            run(model);
        }
        return mask;
    }

    private Value isPrompt() {
        return cache.computeIfAbsent(Positions.Kind.PROMPT, k -> {
            Value length = root.find(CompiledModelAbi.PROMPT_LENGTH_INPUT).orElse(null);
            if (length == null) {
                length = root.addInitializer(CompiledModelAbi.PROMPT_LENGTH_INPUT, Tensor.ofLongs(new long[] {1}, -1L));
                length.setType(CompiledModelAbi.perRow(DataType.INT64));
                root.addInput(length);
            }
            Value known = not(less(length, constant(0)));
            Value byLength = less(positions(), Unsqueeze.axis(model, root, SCOPE + "prompt_length/Unsqueeze", length, 1));
            Value firstRun = root.op("Equal").name(SCOPE + "Equal").inputs(pastLength(), constant(0)).value();
            Value knownColumn = Unsqueeze.axis(model, root, SCOPE + "known/Unsqueeze", known, 1);
            // known ? byLength : firstRun, in logic ops (ONNX Runtime has no bool Where)
            Value given = root.op("And").name(SCOPE + "prompt/And").inputs(knownColumn, byLength).value();
            Value fallback = root.op("And").name(SCOPE + "prompt/And_1").inputs(not(knownColumn), firstRun).value();
            return root.op("Or").name(SCOPE + "prompt/Or").inputs(given, fallback).value();
        });
    }

    /** int64 positions, {@code [batch, seq]} from position_ids or {@code [1, seq]} counted from the past length. */
    private Value positions() {
        if (positions == null) {
            Optional<Value> ids = input("position_ids");
            Optional<Value> attentionMask = input("attention_mask");
            if (ids.isPresent()) {
                positions = root.op("Cast").name(SCOPE + "Cast").inputs(ids.get())
                        .attr("to", (long) DataType.INT64.code()).value();
            } else if (attentionMask.isPresent()) {
                positions = maskedPositions(attentionMask.get());
            } else {
                Value past = pastLength();
                Value end = root.op("Add").name(SCOPE + "end/Add").inputs(past, seqLength()).value();
                Value range = root.op("Range").name(SCOPE + "Range").inputs(past, end, constant(1)).value();
                positions = Unsqueeze.axis(model, root, SCOPE + "Range/Unsqueeze", range, 0);
            }
        }
        return positions;
    }

    /**
     * cumsum(mask) - 1 over the last seq columns, as Hugging Face derives position_ids from the mask: each token's
     * index among its own row's tokens, whichever side the batch is padded on (a right-padded GroupQueryAttention
     * batch decodes each row's token at its own length, not at the grid's width).
     */
    private Value maskedPositions(Value attentionMask) {
        Value mask = root.op("Cast").name(SCOPE + "mask/Cast").inputs(attentionMask)
                .attr("to", (long) DataType.INT64.code()).value();
        Value cumsum = root.op("CumSum").name(SCOPE + "mask/CumSum").inputs(mask, constant(1)).value();
        Value index = root.op("Sub").name(SCOPE + "mask/Sub").inputs(cumsum, constant(1)).value();
        Value clamped = root.op("Max").name(SCOPE + "mask/Max").inputs(index, constant(0)).value();
        Value start = Unsqueeze.axis(model, root, SCOPE + "mask/start/Unsqueeze",
                root.op("Neg").name(SCOPE + "mask/Neg").inputs(seqLength()).value(), 0);
        Value end = root.addInitializer(root.names().fresh("onnx_steer.positions.end"),
                Tensor.vector(Long.MAX_VALUE));
        Value axes = root.addInitializer(root.names().fresh("onnx_steer.positions.axes"), Tensor.vector(1L));
        return root.op("Slice").name(SCOPE + "mask/Slice").inputs(clamped, start, end, axes).value();
    }

    private Value seqLength() {
        if (seqLength == null) {
            seqLength = dim(input("input_ids").orElseThrow(), 1, "seq");
        }
        return seqLength;
    }

    /** Scalar int64: positions already in the cache for this run. */
    private Value pastLength() {
        if (pastLength == null) {
            Optional<Value> mask = input("attention_mask");
            if (mask.isPresent()) {
                pastLength = root.op("Sub").name(SCOPE + "past/Sub").inputs(dim(mask.get(), 1, "total"), seqLength())
                        .value();
            } else {
                Value past = null;
                int axis = 0;
                for (Value in : root.inputs()) {
                    Matcher optimum = OPTIMUM_PAST.matcher(in.name());
                    if (optimum.matches()) {
                        past = in;
                        axis = 2;
                        break;
                    }
                    if (COMBINED_PAST.matcher(in.name()).matches()) {
                        past = in;
                        axis = 3;
                        break;
                    }
                }
                pastLength = past != null ? dim(past, axis, "past") : constant(0);
            }
        }
        return pastLength;
    }

    private Value dim(Value of, int axis, String label) {
        Value shape = root.op("Shape").name(SCOPE + label + "/Shape").inputs(of).value();
        return root.op("Gather").name(SCOPE + label + "/Gather").inputs(shape, constant(axis)).attr("axis", 0L).value();
    }

    private Optional<Value> input(String name) {
        return root.inputs().stream().filter(v -> v.name().equals(name) && !v.isInitializer()).findFirst();
    }

    private Value less(Value a, Value b) {
        return root.op("Less").name(SCOPE + "Less").inputs(a, b).value();
    }

    private Value not(Value a) {
        return root.op("Not").name(SCOPE + "Not").inputs(a).value();
    }

    private Value constant(long value) {
        return root.addInitializer(root.names().fresh("onnx_steer.positions.const" + value), Tensor.scalar(value));
    }
}
