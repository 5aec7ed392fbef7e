package dev.onnxsteer.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.TestPaths;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SessionFactoryTest {
    private static Path model() {
        return TestPaths.sharedModel("tiny-random-gpt2-fused/past.onnx");
    }

    @Test
    void parsesDevices() {
        assertEquals(Device.AUTO, Device.parse("auto"));
        assertEquals(Device.CPU, Device.parse("CPU"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(3), Device.parse("cuda:3"));
        assertEquals("cuda:3", Device.parse("cuda:3").toString());
        for (String bad : new String[] {"gpu", "cuda:", "cuda:-1", "cuda:x", "", "cpu:0"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse(bad), bad);
            assertTrue(e.getMessage().contains("auto, cpu, cuda, cuda:N"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Device.parse(null));
    }

    @Test
    void cpuSessionOpensFromPathAndBytes() throws Exception {
        List<String> lines = new ArrayList<>();
        SessionConfig config = SessionConfig.cpu().withThreads(1, 1).withOptimization(GraphOptimization.DISABLE_ALL)
                .withDiagnostics(lines::add);
        try (ModelSession fromPath = SessionFactory.open(model(), config);
                ModelSession fromBytes = SessionFactory.open(java.nio.file.Files.readAllBytes(model()), "bytes", config)) {
            assertEquals(Device.CPU, fromPath.device());
            assertEquals(fromPath.ort().getInputNames(), fromBytes.ort().getInputNames());
            assertTrue(fromPath.ort().getInputNames().contains("past_0"));
            assertEquals("bytes", fromBytes.source());
        }
        assertEquals(List.of(), lines, "cpu reports nothing");
    }

    @Test
    void autoFallsBackToCpuWithOneReasonLine() {
        assumeTrue(CudaProbe.missingLibrary().isPresent(), "CUDA libraries are present: fallback not exercised");
        List<String> lines = new ArrayList<>();
        try (ModelSession session = SessionFactory.open(model(), SessionConfig.defaults().withDiagnostics(lines::add))) {
            assertEquals(Device.CPU, session.device());
        }
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("CPU") && lines.get(0).contains(CudaProbe.missingLibrary().get()),
                lines.get(0));
        assertTrue(!lines.get(0).contains("\n"));
    }

    @Test
    void explicitCudaThatCannotLoadIsAnInferenceException() {
        assumeTrue(CudaProbe.missingLibrary().isPresent(), "CUDA libraries are present: failure not exercised");
        InferenceException e = assertThrows(InferenceException.class,
                () -> SessionFactory.open(model(), SessionConfig.defaults().withDevice(Device.cuda(0))));
        assertTrue(e.getMessage().contains("cuda:0") && e.getMessage().contains("past.onnx"), e.getMessage());
    }

    @Test
    void ortErrorsNameTheModel() {
        InferenceException e = assertThrows(InferenceException.class, () -> SessionFactory.open(
                "not a model".getBytes(StandardCharsets.UTF_8), "garbage.onnx", SessionConfig.cpu()));
        assertTrue(e.getMessage().contains("garbage.onnx"), e.getMessage());
        BadModelException missing = assertThrows(BadModelException.class,
                () -> SessionFactory.open(Path.of("/nonexistent/model.onnx"), SessionConfig.cpu()));
        assertTrue(missing.getMessage().contains("/nonexistent/model.onnx"));
    }

    @Test
    void badThreadCountsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> SessionConfig.cpu().withThreads(-1, 0));
    }
}
