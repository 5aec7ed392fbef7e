package dev.onnxsteer.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The one topological order: what sortTopologically applies and what site discovery reads. */
class TopologicalOrderTest {
    @Test
    void nodesAppendedOutOfOrderComeAfterTheirProducersAndTheGraphIsNotReordered() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(4)));
        Value late = g.newValue("late", null);
        Node consumer = g.op("Relu").name("consumer").inputs(late).append();
        Node producer = g.appendWithOutputs("Neg", "", "producer", List.of(late));
        producer.addInput(x);
        Node independent = g.op("Abs").name("independent").inputs(x).append();

        assertEquals(List.of(consumer, producer, independent), g.nodes(), "topologicalOrder() does not edit");
        assertEquals(List.of(producer, consumer, independent), g.topologicalOrder());
        g.sortTopologically();
        assertEquals(List.of(producer, consumer, independent), g.nodes(), "the same order sortTopologically applies");
    }

    @Test
    void aNodeReadingAValueOnlyInsideItsSubgraphStillComesAfterItsProducer() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(4)));
        Value cond = g.addInput("cond", ValueType.Tensor.of(DataType.BOOL));
        Value shared = g.newValue("shared", null);
        Graph branch = g.newSubgraph("branch");
        branch.addOutput(branch.op("Relu").name("inside").inputs(shared).value());
        Node ifNode = g.op("If").name("if").inputs(cond).attr("then_branch", branch).attr("else_branch", branch).append();
        Node producer = g.appendWithOutputs("Neg", "", "producer", List.of(shared));
        producer.addInput(x);
        assertEquals(List.of(producer, ifNode), g.topologicalOrder());
    }

    @Test
    void nodesOnACycleComeLastForReadersAndAreRefusedBySorting() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(4)));
        Value a = g.newValue("a", null);
        Value b = g.newValue("b", null);
        Node first = g.appendWithOutputs("Add", "", "first", List.of(a));
        Node second = g.appendWithOutputs("Neg", "", "second", List.of(b));
        first.addInput(x);
        first.addInput(b);
        second.addInput(a);
        Node free = g.op("Abs").name("free").inputs(x).append();
        assertEquals(List.of(free, first, second), g.topologicalOrder());
        IllegalStateException refused = assertThrows(IllegalStateException.class, g::sortTopologically);
        assertTrue(refused.getMessage().contains("cycle through node") && refused.getMessage().contains("first"),
                refused.getMessage());
    }
}
