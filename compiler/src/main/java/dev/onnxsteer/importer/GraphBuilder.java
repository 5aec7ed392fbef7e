package dev.onnxsteer.importer;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;

/**
 * The graph an import is building, with the shorthands its parts share: a single-output node, and constant
 * initializers that are made once per name and reused by every node that asks for them.
 */
final class GraphBuilder {
    static final String MS_DOMAIN = "com.microsoft";

    private final Graph g = new Graph("main_graph");

    Graph graph() {
        return g;
    }

    /** A node of {@code type} named {@code name} (default domain, no attributes); its one output. */
    Value op(String type, String name, Value... inputs) {
        return g.op(type).name(name).inputs(inputs).value();
    }

    /** A shared int64 1-D constant. */
    Value constLongs(String name, long... values) {
        return g.find(name).orElseGet(() -> g.addInitializer(name, Tensor.vector(values)));
    }

    /** A shared int64 scalar constant. */
    Value constLong(String name, long value) {
        return g.find(name).orElseGet(() -> g.addInitializer(name, Tensor.scalar(value)));
    }

    /** A shared float scalar constant. */
    Value constFloat(String name, float value) {
        return g.find(name).orElseGet(() -> g.addInitializer(name, Tensor.scalar(value)));
    }
}
