package dev.onnxsteer.session;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InvalidModelException;
import dev.onnxsteer.io.LoadCheck;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@link LoadCheck} the compiler finds when the runtime is on the class path: ONNX Runtime creates a
 * CPU session from the written model with graph optimisations off, so what is checked is the file as
 * written (model checker, type and shape inference, a kernel for every node). One refusal is not the
 * compiler's to answer for: a kernel this build of ONNX Runtime lacks on CPU (bfloat16 arithmetic,
 * mostly) is accepted when the source model is refused the same way, since the graph passed every check
 * before kernel lookup; the compiled model loads wherever its source does.
 */
public final class OrtLoadCheck implements LoadCheck {
    /** How ONNX Runtime names the node: "node with name '/model/Where'", "in node (/x/Sin)", "Node (/x/MatMul) Op". */
    private static final Pattern NODE = Pattern.compile("node with name '([^']*)'|[Nn]ode \\(([^)]*)\\)");

    @Override
    public void check(Path modelFile, Path sourceFile) {
        String refusal = refusal(modelFile);
        if (refusal == null) {
            return;
        }
        if (refusal.startsWith(MISSING_KERNEL) && sourceFile != null) {
            String source = refusal(sourceFile);
            if (source != null && source.startsWith(MISSING_KERNEL)) {
                return;
            }
        }
        throw new InvalidModelException(node(refusal), "ONNX Runtime refuses to load it: " + refusal);
    }

    private static final String MISSING_KERNEL = "missing kernel: ";

    /** Null when a CPU session opens; else ONNX Runtime's message, prefixed when only a kernel is missing. */
    private static String refusal(Path model) {
        OrtEnvironment env = Ort.env(); // first: SessionOptions would load the native library from a fresh temp dir
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession session = env.createSession(model.toAbsolutePath().toString(), options)) {
                return null;
            }
        } catch (OrtException e) {
            String message = e.getMessage().replace('\n', ' ');
            return e.getCode() == OrtException.OrtErrorCode.ORT_NOT_IMPLEMENTED ? MISSING_KERNEL + message : message;
        }
    }

    private static String node(String message) {
        Matcher m = NODE.matcher(message);
        if (m.find()) {
            return m.group(1) != null ? m.group(1) : m.group(2);
        }
        return "model";
    }
}
