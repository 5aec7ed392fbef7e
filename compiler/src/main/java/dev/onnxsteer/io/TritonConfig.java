package dev.onnxsteer.io;

import com.google.protobuf.TextFormat;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.proto.triton.ModelConfig;
import dev.onnxsteer.proto.triton.ModelDynamicBatching;
import dev.onnxsteer.proto.triton.ModelInput;
import dev.onnxsteer.proto.triton.ModelInstanceGroup;
import dev.onnxsteer.proto.triton.ModelOutput;
import dev.onnxsteer.proto.triton.ModelTensorReshape;
import java.util.ArrayList;
import java.util.List;

/**
 * A Triton Inference Server {@code config.pbtxt} for the onnxruntime backend, from a model whose
 * every input and output is batch-first: dynamic batching on, dims after the batch dimension
 * ({@code -1} where variable), rank-1 tensors as dims {@code [1]} reshaped to {@code []}. The
 * protobuf schema stays here, at the I/O edge.
 */
public final class TritonConfig {
    public static final String FILE = "config.pbtxt";

    private final ModelConfig config;

    private TritonConfig(ModelConfig config) {
        this.config = config;
    }

    /**
     * @throws IllegalArgumentException naming the first input or output without a variable batch dimension first
     */
    public static TritonConfig of(Model model, String name, int maxBatch) {
        Graph graph = model.graph();
        ModelConfig.Builder config = ModelConfig.newBuilder()
                .setName(name)
                .setBackend("onnxruntime")
                .setMaxBatchSize(maxBatch)
                .setDynamicBatching(ModelDynamicBatching.newBuilder().setMaxQueueDelayMicroseconds(1000))
                .addInstanceGroup(ModelInstanceGroup.newBuilder().setKind(ModelInstanceGroup.Kind.KIND_AUTO).setCount(1))
                .setDefaultModelFilename(ModelFiles.MODEL_FILE);
        for (Value input : graph.inputs()) {
            ValueType.Tensor t = batchFirst(input, "input");
            ModelInput.Builder b = ModelInput.newBuilder().setName(input.name()).setDataType(tritonType(input, t));
            if (t.rank() == 1) {
                b.addDims(1).setReshape(ModelTensorReshape.newBuilder());
            } else {
                rest(t).forEach(b::addDims);
            }
            config.addInput(b);
        }
        for (Value output : graph.outputs()) {
            ValueType.Tensor t = batchFirst(output, "output");
            ModelOutput.Builder b = ModelOutput.newBuilder().setName(output.name()).setDataType(tritonType(output, t));
            if (t.rank() == 1) {
                b.addDims(1).setReshape(ModelTensorReshape.newBuilder());
            } else {
                rest(t).forEach(b::addDims);
            }
            config.addOutput(b);
        }
        return new TritonConfig(config.build());
    }

    /** The configuration as protobuf. */
    public ModelConfig proto() {
        return config;
    }

    /** The names of the inputs the configuration declares, in order. */
    public List<String> inputNames() {
        return config.getInputList().stream().map(ModelInput::getName).toList();
    }

    /** The configuration in protobuf text format, as {@value #FILE} holds it. */
    public String text() {
        return TextFormat.printer().printToString(config);
    }

    private static ValueType.Tensor batchFirst(Value value, String what) {
        ValueType.Tensor t = value.tensorType();
        if (t == null || t.rank() <= 0 || t.shape().get(0).isFixed()) {
            throw new IllegalArgumentException(what + " " + value.name() + " has shape "
                    + (t == null ? "unknown" : t.toString()) + "; Triton's dynamic batching needs every input"
                    + " and output to have a variable batch dimension first");
        }
        return t;
    }

    private static List<Long> rest(ValueType.Tensor t) {
        List<Long> dims = new ArrayList<>();
        for (Dim d : t.shape().subList(1, t.rank())) {
            dims.add(d.isFixed() ? d.value() : -1L);
        }
        return dims;
    }

    private static dev.onnxsteer.proto.triton.DataType tritonType(Value value, ValueType.Tensor t) {
        DataType type = t.elementType();
        return switch (type) {
            case FLOAT -> dev.onnxsteer.proto.triton.DataType.TYPE_FP32;
            case FLOAT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_FP16;
            case BFLOAT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_BF16;
            case DOUBLE -> dev.onnxsteer.proto.triton.DataType.TYPE_FP64;
            case INT64 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT64;
            case INT32 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT32;
            case INT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT16;
            case INT8 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT8;
            case UINT64 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT64;
            case UINT32 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT32;
            case UINT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT16;
            case UINT8 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT8;
            case BOOL -> dev.onnxsteer.proto.triton.DataType.TYPE_BOOL;
            case STRING -> dev.onnxsteer.proto.triton.DataType.TYPE_STRING;
            default -> throw new BadModelException(value.name() + " is " + type.label() + ", which Triton has no type for");
        };
    }
}
