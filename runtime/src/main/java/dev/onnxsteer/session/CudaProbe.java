package dev.onnxsteer.session;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A cheap check, before paying ~4 s for a failed CUDA provider load, that the libraries the
 * ONNX Runtime CUDA execution provider needs (driver, CUDA 12 runtime and cuBLAS/cuFFT, cuDNN 9)
 * can be found: on {@code LD_LIBRARY_PATH}, the usual system and CUDA folders, or in
 * {@code ldconfig -p}. Passing the check does not guarantee CUDA works; failing it means it cannot.
 */
public final class CudaProbe {
    /** The shared libraries the CUDA provider of onnxruntime_gpu 1.2x loads. */
    public static final List<String> REQUIRED = List.of(
            "libcuda.so.1", "libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12", "libcufft.so.11",
            "libcudnn.so.9");

    private CudaProbe() {}

    /** The first required library that cannot be found, or empty when all are findable. */
    public static Optional<String> missingLibrary() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return Optional.of("CUDA probing is implemented for Linux only");
        }
        Set<String> found = new HashSet<>();
        for (Path dir : searchDirectories()) {
            for (String lib : REQUIRED) {
                if (!found.contains(lib) && Files.exists(dir.resolve(lib))) {
                    found.add(lib);
                }
            }
        }
        if (!found.containsAll(REQUIRED)) {
            found.addAll(ldconfigLibraries());
        }
        return REQUIRED.stream().filter(lib -> !found.contains(lib)).findFirst();
    }

    static List<Path> searchDirectories() {
        Set<Path> dirs = new LinkedHashSet<>();
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String part : ld.split(":")) {
                if (!part.isBlank()) {
                    dirs.add(Path.of(part));
                }
            }
        }
        for (String fixed : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
                "/usr/local/nvidia/lib64", "/usr/local/cuda/lib64", "/usr/lib/wsl/lib")) {
            dirs.add(Path.of(fixed));
        }
        try (DirectoryStream<Path> local = Files.newDirectoryStream(Path.of("/usr/local"), "cuda*")) {
            for (Path cuda : local) {
                dirs.add(cuda.resolve("lib64"));
            }
        } catch (IOException | DirectoryIteratorException e) {
            // no /usr/local/cuda* folders, or one that cannot be listed
        }
        List<Path> existing = new ArrayList<>();
        for (Path dir : dirs) {
            if (Files.isDirectory(dir)) {
                existing.add(dir);
            }
        }
        return existing;
    }

    private static Set<String> ldconfigLibraries() {
        Set<String> names = new HashSet<>();
        for (String ldconfig : List.of("/sbin/ldconfig", "/usr/sbin/ldconfig")) {
            if (!Files.isExecutable(Path.of(ldconfig))) {
                continue;
            }
            try {
                Process process = new ProcessBuilder(ldconfig, "-p").redirectErrorStream(true).start();
                try (BufferedReader reader = new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = reader.readLine()) != null) {
                        String trimmed = line.trim();
                        int space = trimmed.indexOf(' ');
                        if (space > 0) {
                            names.add(trimmed.substring(0, space));
                        }
                    }
                }
                if (!process.waitFor(2, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
                break;
            } catch (IOException e) {
                // try the next location
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return names;
    }
}
