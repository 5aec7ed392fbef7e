package dev.onnxsteer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExternalDataTest {
    @TempDir
    Path temp;

    /** x[1,4] MatMul w[4,4], with w in weights.bin at {@code location}, offset 0. */
    private Path modelWithExternal(String dirName, String location, long length) throws IOException {
        Path dir = Files.createDirectories(temp.resolve(dirName));
        ByteBuffer bytes = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 16; i++) {
            bytes.putFloat(i);
        }
        Path data = dir.resolve("weights.bin");
        Files.write(data, bytes.array());
        Graph graph = new Graph("g");
        Value x = graph.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(4)));
        Value w = graph.addInitializer("w", new Tensor(DataType.FLOAT, new long[] {4, 4},
                new Tensor.External(data, "weights.bin", 0, 64)));
        graph.addOutput(graph.op("MatMul").inputs(x, w).outputs("y").value());
        Model model = new Model(graph);
        model.opsets().put("", 17L);
        model.setDirectory(dir);
        Path onnx = dir.resolve("model.onnx");
        ModelWriter.write(model, onnx);
        if (!location.equals("weights.bin") || length != 64) {
            // rewrite the reference by hand: the writer itself never produces unsafe locations
            byte[] proto = Files.readAllBytes(onnx);
            dev.onnxsteer.proto.ModelProto parsed = dev.onnxsteer.proto.ModelProto.parseFrom(proto);
            var builder = parsed.toBuilder();
            var init = builder.getGraphBuilder().getInitializerBuilder(0);
            init.clearExternalData();
            init.addExternalData(kv("location", location)).addExternalData(kv("offset", "0"))
                    .addExternalData(kv("length", Long.toString(length)));
            Files.write(onnx, builder.build().toByteArray());
        }
        return onnx;
    }

    private static dev.onnxsteer.proto.StringStringEntryProto kv(String key, String value) {
        return dev.onnxsteer.proto.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    @Test
    void unchangedExternalWeightsAreHardLinkedNotCopied() throws IOException {
        Path onnx = modelWithExternal("src", "weights.bin", 64);
        Model model = ModelReader.read(onnx);
        Path out = temp.resolve("out/model.onnx");
        ModelWriter.write(model, out);
        Object sourceInode = Files.getAttribute(onnx.resolveSibling("weights.bin"), "unix:ino");
        Object outInode = Files.getAttribute(out.resolveSibling("weights.bin"), "unix:ino");
        assertEquals(sourceInode, outInode, "weights.bin is a hard link to the source file");
        Tensor w = ModelReader.read(out).graph().initializers().get(0).initializer();
        assertArrayEquals(new float[] {0, 1, 2, 3}, java.util.Arrays.copyOf(w.toFloats(), 4));
        RoundTripTest.assertOutputsEqual(onnx, out, 4);
    }

    @Test
    void refusesParentTraversal() throws IOException {
        Path onnx = modelWithExternal("dotdot", "../secret.bin", 64);
        var e = assertThrows(BadModelException.class, () -> ModelReader.read(onnx));
        assertTrue(e.getMessage().contains("'../secret.bin' contains '..'"), e.getMessage());
    }

    @Test
    void refusesAbsoluteLocation() throws IOException {
        Path onnx = modelWithExternal("absolute", "/etc/passwd", 64);
        var e = assertThrows(BadModelException.class, () -> ModelReader.read(onnx));
        assertTrue(e.getMessage().contains("is absolute"), e.getMessage());
    }

    @Test
    void refusesSymlinkOutOfTheDirectory() throws IOException {
        Path outside = Files.write(temp.resolve("outside.bin"), new byte[64]);
        Path onnx = modelWithExternal("symlink", "link.bin", 64);
        Files.createSymbolicLink(onnx.resolveSibling("link.bin"), outside);
        var e = assertThrows(BadModelException.class, () -> ModelReader.read(onnx));
        assertTrue(e.getMessage().contains("outside the model directory"), e.getMessage());
    }

    @Test
    void refusesRangePastTheEndOfTheFile() throws IOException {
        Path onnx = modelWithExternal("short", "weights.bin", 128);
        var e = assertThrows(BadModelException.class, () -> ModelReader.read(onnx));
        assertTrue(e.getMessage().contains("has only 64 bytes"), e.getMessage());
    }

    @Test
    void refusesMissingDataFile() throws IOException {
        Path onnx = modelWithExternal("missing", "weights.bin", 64);
        Files.delete(onnx.resolveSibling("weights.bin"));
        var e = assertThrows(BadModelException.class, () -> ModelReader.read(onnx));
        assertTrue(e.getMessage().contains("is missing"), e.getMessage());
    }
}
