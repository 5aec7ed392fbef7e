package dev.onnxsteer.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.proto.AttributeProto;
import dev.onnxsteer.proto.GraphProto;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.proto.NodeProto;
import dev.onnxsteer.proto.OperatorSetIdProto;
import dev.onnxsteer.proto.TensorProto;
import dev.onnxsteer.proto.TensorShapeProto;
import dev.onnxsteer.proto.TypeProto;
import dev.onnxsteer.proto.ValueInfoProto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Optimum's merged decoders give both If branches the same value names; that is valid ONNX and must read. */
class SiblingNamesTest {
    @TempDir
    Path temp;

    private static ValueInfoProto floatInfo(String name) {
        TensorShapeProto shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(2)).build();
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    /** y = If(c) then x * 2 else x + 2, both branches naming their intermediate "t" and output "out". */
    private static ModelProto model(String elseIntermediate) {
        GraphProto thenBranch = GraphProto.newBuilder().setName("then")
                .addNode(NodeProto.newBuilder().setOpType("Mul").addInput("x").addInput("two").addOutput("t"))
                .addNode(NodeProto.newBuilder().setOpType("Identity").addInput("t").addOutput("out"))
                .addOutput(floatInfo("out")).build();
        GraphProto elseBranch = GraphProto.newBuilder().setName("else")
                .addNode(NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("two").addOutput(elseIntermediate))
                .addNode(NodeProto.newBuilder().setOpType("Identity").addInput(elseIntermediate).addOutput("out"))
                .addOutput(floatInfo("out")).build();
        GraphProto main = GraphProto.newBuilder().setName("main")
                .addInput(ValueInfoProto.newBuilder().setName("c").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.BOOL_VALUE)
                                .setShape(TensorShapeProto.newBuilder().addDim(
                                        TensorShapeProto.Dimension.newBuilder().setDimValue(1))))))
                .addInput(floatInfo("x"))
                .addInitializer(TensorProto.newBuilder().setName("two").setDataType(TensorProto.DataType.FLOAT_VALUE)
                        .addFloatData(2f))
                .addNode(NodeProto.newBuilder().setOpType("If").setName("branch").addInput("c").addOutput("y")
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(thenBranch))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(elseBranch)))
                .addOutput(floatInfo("y")).build();
        return ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(main).build();
    }

    @Test
    void siblingBranchesMayReuseNamesAndRoundTrip() throws IOException {
        Path file = temp.resolve("merged.onnx");
        Files.write(file, model("t").toByteArray());
        Model model = ModelReader.read(file);
        Node branch = model.graph().nodes().get(0);
        assertEquals(2, branch.subgraphs().size());
        assertEquals("t", branch.subgraphs().get(0).nodes().get(0).output(0).name());
        assertEquals("t", branch.subgraphs().get(1).nodes().get(0).output(0).name());
        String fresh = model.graph().names().fresh("t");
        assertTrue(!fresh.equals("t"), "new names never collide with names read from the file");
        Path copy = temp.resolve("copy/merged.onnx");
        ModelWriter.write(model, copy);
        RoundTripTest.assertOutputsEqual(file, copy, 10);
    }

    @Test
    void aNameDefinedTwiceInOneScopeIsRefused() throws IOException {
        Path file = temp.resolve("bad.onnx");
        Files.write(file, model("x").toByteArray());
        var e = assertThrows(BadModelException.class, () -> ModelReader.read(file));
        assertTrue(e.getMessage().contains("'x' is defined twice"), e.getMessage());
    }
}
