package dev.onnxsteer.session;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The physical cores this process may use, the default number of intra-op threads: a hyperthread sibling shares
 * its core's arithmetic units, so a second thread on it mostly waits (ONNX Runtime's own default reasons the same
 * way). On Linux the distinct {@code (physical id, core id)} pairs of {@code /proc/cpuinfo}; never more than
 * {@link Runtime#availableProcessors()}, which honours CPU affinity and container limits; where
 * {@code /proc/cpuinfo} says nothing, {@code availableProcessors()}.
 */
public final class PhysicalCores {
    private static final Path CPUINFO = Path.of("/proc/cpuinfo");
    private static volatile int count;

    private PhysicalCores() {}

    /** The number, read once per process. */
    public static int count() {
        if (count == 0) {
            count = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), fromCpuinfo()));
        }
        return count;
    }

    /** Distinct cores named in {@code cpuinfo}; {@link Integer#MAX_VALUE} when it names none. */
    static int fromCpuinfo(List<String> cpuinfo) {
        Set<String> cores = new HashSet<>();
        String physical = "0";
        for (String line : cpuinfo) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).strip();
            String value = line.substring(colon + 1).strip();
            if (key.equals("physical id")) {
                physical = value;
            } else if (key.equals("core id")) {
                cores.add(physical + "/" + value);
            }
        }
        return cores.isEmpty() ? Integer.MAX_VALUE : cores.size();
    }

    private static int fromCpuinfo() {
        try {
            return Files.isReadable(CPUINFO) ? fromCpuinfo(Files.readAllLines(CPUINFO)) : Integer.MAX_VALUE;
        } catch (IOException | RuntimeException e) {
            return Integer.MAX_VALUE;
        }
    }
}
