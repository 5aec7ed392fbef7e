package dev.onnxsteer.generate;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.onnxsteer.InferenceException;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * What a run's logits output will look like before the run, read once from the session: the element type, the
 * vocabulary, and how the sequence dimension relates to the fed tokens, so that {@link LastLogits} can hand ONNX
 * Runtime a buffer of exactly that shape. Also the other outputs, requested by name when the logits are pinned.
 *
 * @param seq            how the logits' sequence dimension is known
 * @param otherOutputs   every output but the logits
 */
record LogitsLayout(String name, OnnxJavaType type, OptionalInt vocab, Seq seq, Set<String> otherOutputs) {

    /** How the logits' sequence dimension follows from a run. */
    enum Seq {
        /** Named like {@code input_ids}' sequence dimension: one row of logits per fed token. */
        FOLLOWS_INPUT,
        /** Static 1: only the last position's logits. */
        LAST_ONLY,
        /** Neither: the shape is known only after the run. */
        UNKNOWN
    }

    static LogitsLayout of(OrtSession session, ModelLayout layout, String source) {
        try {
            Map<String, NodeInfo> outputs = session.getOutputInfo();
            Map<String, NodeInfo> inputs = session.getInputInfo();
            TensorInfo logits = (TensorInfo) outputs.get(layout.logits()).getInfo();
            Set<String> others = new LinkedHashSet<>(outputs.keySet());
            others.remove(layout.logits());
            Seq seq = Seq.UNKNOWN;
            String[] logitNames = logits.getDimensionNames();
            if (logits.getShape()[1] == 1) {
                seq = Seq.LAST_ONLY;
            } else if (inputs.get(layout.inputIds()).getInfo() instanceof TensorInfo ids && ids.getShape().length == 2
                    && !logitNames[1].isEmpty() && logitNames[1].equals(ids.getDimensionNames()[1])) {
                seq = Seq.FOLLOWS_INPUT;
            }
            return new LogitsLayout(layout.logits(), logits.type, layout.vocabSize(), seq, Collections.unmodifiableSet(others));
        } catch (OrtException e) {
            throw new InferenceException("cannot read the outputs of " + source + ": " + e.getMessage(), e);
        }
    }

    /** Logits rows a run feeding {@code inputLength} tokens per row returns, or -1 when not known before the run. */
    int rowsFor(int inputLength) {
        if (inputLength == 1) {
            return 1; // one fed token has one position, whether the graph returns all positions or the last
        }
        return switch (seq) {
            case LAST_ONLY -> 1;
            case FOLLOWS_INPUT -> inputLength;
            case UNKNOWN -> -1;
        };
    }
}
