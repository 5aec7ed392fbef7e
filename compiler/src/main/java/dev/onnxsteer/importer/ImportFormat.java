package dev.onnxsteer.importer;

import java.util.List;
import java.util.Locale;

/** The graph layout an import writes. */
public enum ImportFormat {
    /** The fastest layout the architecture has: {@link #GENAI} where it can be written ({@link #GENAI_ARCHITECTURES}), else {@link #ONNX}. */
    AUTO,
    /** Standard opset-17 operators, laid out as torch.onnx / Optimum export the Hugging Face model ({@link LlamaGraph}). */
    ONNX,
    /** The onnxruntime-genai model builder's fused layout with {@code genai_config.json} ({@link GenaiGraph}). */
    GENAI;

    /** The architectures {@link #GENAI} can write: gemma2's soft-capping, post-norms and sliding window are not in it. */
    public static final List<String> GENAI_ARCHITECTURES = List.of(LlamaConfig.LLAMA, LlamaConfig.QWEN2, LlamaConfig.PHI3, LlamaConfig.GEMMA);

    /** The layout an import of {@code architecture} writes: this one, or what {@link #AUTO} picks for it. */
    public ImportFormat resolve(String architecture) {
        if (this != AUTO) {
            return this;
        }
        return GENAI_ARCHITECTURES.contains(architecture) ? GENAI : ONNX;
    }

    /** The lower-case name used on the command line. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
