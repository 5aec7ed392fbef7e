package dev.onnxsteer.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The default intra-op thread count: one per physical core, hyperthread siblings counted once. */
class PhysicalCoresTest {

    /** {@code /proc/cpuinfo} of {@code sockets} x {@code cores} cores with {@code threads} hyperthreads each. */
    private static List<String> cpuinfo(int sockets, int cores, int threads) {
        List<String> lines = new ArrayList<>();
        int processor = 0;
        for (int s = 0; s < sockets; s++) {
            for (int t = 0; t < threads; t++) {
                for (int c = 0; c < cores; c++) {
                    lines.add("processor\t: " + processor++);
                    lines.add("model name\t: Example CPU @ 2.00GHz");
                    lines.add("physical id\t: " + s);
                    lines.add("siblings\t: " + cores * threads);
                    lines.add("core id\t\t: " + c);
                    lines.add("cpu cores\t: " + cores);
                    lines.add("");
                }
            }
        }
        return lines;
    }

    @Test
    void countsHyperthreadSiblingsOnceAndCoresOfEverySocket() {
        assertEquals(2, PhysicalCores.fromCpuinfo(cpuinfo(1, 2, 1)));
        assertEquals(4, PhysicalCores.fromCpuinfo(cpuinfo(1, 4, 2)), "8 logical CPUs, 4 cores");
        assertEquals(16, PhysicalCores.fromCpuinfo(cpuinfo(2, 8, 2)), "core ids repeat on the second socket");
    }

    @Test
    void saysNothingWhenCpuinfoNamesNoCores() {
        // e.g. some ARM kernels list processors without core ids: availableProcessors() decides then
        assertEquals(Integer.MAX_VALUE, PhysicalCores.fromCpuinfo(List.of("processor\t: 0", "BogoMIPS\t: 48.00", "")));
    }

    @Test
    void neverExceedsTheProcessorsThisProcessMayUse() {
        int count = PhysicalCores.count();
        assertTrue(count >= 1 && count <= Runtime.getRuntime().availableProcessors(), "physical cores " + count);
        assertEquals(count, SessionConfig.cpu().resolvedIntraOpThreads());
        assertEquals(3, SessionConfig.cpu().withThreads(3, 0).resolvedIntraOpThreads());
    }
}
