package dev.onnxsteer.generate;

import static dev.onnxsteer.generate.TinyKvModels.node;
import static dev.onnxsteer.generate.TinyKvModels.value;

import dev.onnxsteer.proto.AttributeProto;
import dev.onnxsteer.proto.GraphProto;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.proto.OperatorSetIdProto;
import dev.onnxsteer.proto.TensorProto;
import java.util.List;

/**
 * One-layer decoders in the onnxruntime-genai builder's layout, built here so generation of that layout is
 * tested without downloads: {@code input_ids}, {@code attention_mask} and {@code past_key_values.0.key/value}
 * {@code [batch, 2, past, 16]} in (no {@code position_ids}), {@code logits} and {@code present.0.key/value} out;
 * {@code seqlens_k} and {@code total_sequence_length} are computed in the graph from the mask, and attention is
 * {@code com.microsoft.GroupQueryAttention} with packed QKV and its built-in rotary (head size 16, the CPU
 * provider's minimum for {@code do_rotary=1}). {@link Precision} says which tensors are float16.
 */
final class TinyGqaModels {
    static final int VOCAB = 32;
    static final int HIDDEN = 64;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int HEAD = 16;
    static final int MAX_POSITIONS = 64;
    private static final int FLOAT = 1;
    private static final int INT32 = 6;
    private static final int INT64 = 7;
    private static final int FLOAT16 = 10;

    /** Which tensors of the graph are float16. */
    enum Precision {
        /** Everything float32. */
        FP32,
        /** Attention and its cache in float16, logits float32 (the cast back happens before the output projection). */
        FP16_CACHE,
        /** As {@link #FP16_CACHE}, and the logits output float16 too. */
        FP16_LOGITS
    }

    private TinyGqaModels() {}

    static byte[] build(Precision precision) {
        boolean half = precision != Precision.FP32;
        int cacheType = half ? FLOAT16 : FLOAT;
        GraphProto.Builder graph = GraphProto.newBuilder().setName("tiny_gqa_" + precision.name().toLowerCase());
        graph.addInput(value("input_ids", INT64, "batch", "seq"));
        graph.addInput(value("attention_mask", INT64, "batch", "total"));
        graph.addInput(value("past_key_values.0.key", cacheType, "batch", (long) KV_HEADS, "past", (long) HEAD));
        graph.addInput(value("past_key_values.0.value", cacheType, "batch", (long) KV_HEADS, "past", (long) HEAD));
        int qkvWidth = (HEADS + 2 * KV_HEADS) * HEAD;
        graph.addInitializer(floats("E", VOCAB, HIDDEN, 0.3, 1.0));
        graph.addInitializer(floats("Wqkv", HIDDEN, qkvWidth, 1.1, 0.4));
        graph.addInitializer(floats("Wo", HIDDEN, HIDDEN, 2.3, 0.3));
        graph.addInitializer(floats("Wlm", HIDDEN, VOCAB, 0.7, 1.5));
        graph.addInitializer(rotary("cos_cache", true));
        graph.addInitializer(rotary("sin_cache", false));
        graph.addInitializer(longs("axis1", 1));
        graph.addInitializer(longs("one", 1));
        graph.addInitializer(TensorProto.newBuilder().setName("index1").setDataType(INT64).addInt64Data(1).build());

        // the builder's in-graph lengths: seqlens_k = sum(mask) - 1, total_sequence_length = mask width
        graph.addNode(node("ReduceSum", List.of("attention_mask", "axis1"), "mask_sum").addAttribute(intAttr("keepdims", 0)));
        graph.addNode(node("Sub", List.of("mask_sum", "one"), "seqlens_k64"));
        graph.addNode(cast("seqlens_k64", "seqlens_k", INT32));
        graph.addNode(node("Shape", List.of("attention_mask"), "mask_shape"));
        graph.addNode(node("Gather", List.of("mask_shape", "index1"), "total64"));
        graph.addNode(cast("total64", "total_sequence_length", INT32));

        graph.addNode(node("Gather", List.of("E", "input_ids"), "x"));
        graph.addNode(node("MatMul", List.of("x", "Wqkv"), "qkv"));
        String qkv = "qkv";
        String cos = "cos_cache";
        String sin = "sin_cache";
        if (half) {
            graph.addNode(cast("qkv", "qkv16", FLOAT16));
            graph.addNode(cast("cos_cache", "cos16", FLOAT16));
            graph.addNode(cast("sin_cache", "sin16", FLOAT16));
            qkv = "qkv16";
            cos = "cos16";
            sin = "sin16";
        }
        graph.addNode(node("GroupQueryAttention", List.of(qkv, "", "", "past_key_values.0.key",
                "past_key_values.0.value", "seqlens_k", "total_sequence_length", cos, sin), half ? "attn16" : "attn")
                .setDomain("com.microsoft")
                .clearOutput().addOutput(half ? "attn16" : "attn").addOutput("present.0.key").addOutput("present.0.value")
                .addAttribute(intAttr("num_heads", HEADS)).addAttribute(intAttr("kv_num_heads", KV_HEADS))
                .addAttribute(intAttr("do_rotary", 1)));
        if (half) {
            graph.addNode(cast("attn16", "attn", FLOAT));
        }
        graph.addNode(node("MatMul", List.of("attn", "Wo"), "attn_out"));
        graph.addNode(node("Add", List.of("x", "attn_out"), "h"));
        graph.addNode(node("Tanh", List.of("h"), "t"));
        if (precision == Precision.FP16_LOGITS) {
            graph.addNode(node("MatMul", List.of("t", "Wlm"), "logits32"));
            graph.addNode(cast("logits32", "logits", FLOAT16));
        } else {
            graph.addNode(node("MatMul", List.of("t", "Wlm"), "logits"));
        }
        graph.addOutput(value("logits", precision == Precision.FP16_LOGITS ? FLOAT16 : FLOAT, "batch", "seq", (long) VOCAB));
        graph.addOutput(value("present.0.key", cacheType, "batch", (long) KV_HEADS, "total", (long) HEAD));
        graph.addOutput(value("present.0.value", cacheType, "batch", (long) KV_HEADS, "total", (long) HEAD));
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-steer tests")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setGraph(graph).build().toByteArray();
    }

    /** {@code genai_config.json} as the model builder writes it, cut to what generation reads. */
    static String genaiConfig() {
        return """
                {"model": {"bos_token_id": 1, "eos_token_id": [31], "pad_token_id": 0, "context_length": %d,
                  "vocab_size": %d, "type": "llama",
                  "decoder": {"filename": "model.onnx", "head_size": %d, "hidden_size": %d, "num_attention_heads": %d,
                    "num_key_value_heads": %d, "num_hidden_layers": 1,
                    "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                      "past_key_names": "past_key_values.%%d.key", "past_value_names": "past_key_values.%%d.value"},
                    "outputs": {"logits": "logits", "present_key_names": "present.%%d.key",
                      "present_value_names": "present.%%d.value"}}},
                 "search": {"max_length": %d, "past_present_share_buffer": false}}
                """.formatted(MAX_POSITIONS, VOCAB, HEAD, HIDDEN, HEADS, KV_HEADS, MAX_POSITIONS);
    }

    private static dev.onnxsteer.proto.NodeProto.Builder cast(String input, String output, int to) {
        return node("Cast", List.of(input), output).addAttribute(intAttr("to", to));
    }

    private static AttributeProto intAttr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    /** The rotary tables of theta 10000: {@code [MAX_POSITIONS, HEAD / 2]}. */
    private static TensorProto rotary(String name, boolean cosine) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name).setDataType(FLOAT)
                .addDims(MAX_POSITIONS).addDims(HEAD / 2);
        for (int p = 0; p < MAX_POSITIONS; p++) {
            for (int i = 0; i < HEAD / 2; i++) {
                double angle = p / Math.pow(10000, 2.0 * i / HEAD);
                tensor.addFloatData((float) (cosine ? Math.cos(angle) : Math.sin(angle)));
            }
        }
        return tensor.build();
    }

    /** Deterministic weights in [-scale, scale]. */
    private static TensorProto floats(String name, int rows, int cols, double phase, double scale) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name).setDataType(FLOAT).addDims(rows).addDims(cols);
        for (int i = 0; i < rows * cols; i++) {
            tensor.addFloatData((float) (scale * Math.sin(i * 1.618 + phase)));
        }
        return tensor.build();
    }

    private static TensorProto longs(String name, long... values) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name).setDataType(INT64).addDims(values.length);
        for (long v : values) {
            tensor.addInt64Data(v);
        }
        return tensor.build();
    }
}
