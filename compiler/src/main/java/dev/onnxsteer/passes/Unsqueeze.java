package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;

/** Unsqueeze across opsets: axes became an input in opset 13. */
final class Unsqueeze {
    private Unsqueeze() {}

    static Value axis(Model model, Graph graph, String name, Value input, long axis) {
        if (model.opset() >= 13) {
            Value axes = model.graph().addInitializer(model.graph().names().fresh(name.replace('/', '_') + "_axes"),
                    Tensor.vector(axis));
            return graph.op("Unsqueeze").name(name).inputs(input, axes).value();
        }
        return graph.op("Unsqueeze").name(name).inputs(input).attr("axes", new long[] {axis}).value();
    }
}
