package dev.onnxsteer.session;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;

/**
 * Gives ONNX Runtime its native libraries from a cache directory instead of letting it extract them into a
 * fresh {@code onnxruntime-java<digits>} directory under {@code java.io.tmpdir} in every process, which it
 * leaves behind (an empty directory per run, and 27 MB of copying, 390 MB with the CUDA provider).
 * ONNX Runtime still makes that directory, but empty it is deleted when the JVM exits.
 *
 * <p>ONNX Runtime's Java loader reads the directory from the system property {@code onnxruntime.native.path}.
 * The cache is {@code $ONNX_STEER_CACHE}, else {@code $XDG_CACHE_HOME/onnx-steer}, else
 * {@code ~/.cache/onnx-steer}, in a subdirectory named after the libraries' platform and a checksum of the
 * JNI library, so two ONNX Runtime versions never share files. Each file is copied to a temporary name in the
 * cache and renamed, so concurrent first runs cannot load a half-written library. When the property is
 * already set, the platform has no bundled libraries, or the cache cannot be written, nothing changes and
 * ONNX Runtime extracts as before.
 */
public final class NativeLibraries {
    static final String NATIVE_PATH_PROPERTY = "onnxruntime.native.path";
    private static final String RESOURCES = "/ai/onnxruntime/native/";
    /**
     * What ONNX Runtime loads at start. The shared provider library is one of them: found nowhere else, it is
     * extracted into the temp directory and kept open, and that directory is what every run leaves behind.
     */
    private static final List<String> CORE = List.of("onnxruntime", "onnxruntime4j_jni", "onnxruntime_providers_shared");
    private static final List<String> CUDA = List.of("onnxruntime_providers_cuda");
    private static Path cache;

    private NativeLibraries() {}

    /** Points ONNX Runtime at the cached core libraries, copying them there on the first run; before ORT loads. */
    static synchronized void useCache() {
        if (cache != null || System.getProperty(NATIVE_PATH_PROPERTY) != null) {
            return;
        }
        String platform = platform();
        if (platform == null || NativeLibraries.class.getResource(resource(platform, "onnxruntime4j_jni")) == null) {
            return;
        }
        try {
            Path dir = baseDirectory().resolve("onnxruntime-" + platform + "-" + checksum(resource(platform, "onnxruntime4j_jni")));
            Files.createDirectories(dir);
            for (String library : CORE) {
                copy(platform, library, dir);
            }
            cache = dir;
            System.setProperty(NATIVE_PATH_PROPERTY, dir.toString());
        } catch (IOException | RuntimeException e) {
            // an unwritable cache only costs the old behaviour: ONNX Runtime extracts to the temp directory
        }
    }

    /** Copies the CUDA provider libraries into the cache (once) before a session asks for the CUDA provider. */
    static synchronized void prepareCuda() {
        if (cache == null) {
            return;
        }
        try {
            for (String library : CUDA) {
                copy(platform(), library, cache);
            }
        } catch (IOException e) {
            // ONNX Runtime then reports the provider as unavailable and the session falls back to CPU
        }
    }

    private static void copy(String platform, String library, Path dir) throws IOException {
        Path target = dir.resolve(System.mapLibraryName(library));
        try (InputStream in = NativeLibraries.class.getResourceAsStream(resource(platform, library))) {
            if (in == null || Files.isRegularFile(target)) {
                return;
            }
            Path temp = Files.createTempFile(dir, target.getFileName().toString(), ".part");
            try {
                Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
                try {
                    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(temp);
            }
        }
    }

    private static Path baseDirectory() {
        String own = System.getenv("ONNX_STEER_CACHE");
        if (own != null && !own.isBlank()) {
            return Path.of(own);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "onnx-steer");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "onnx-steer");
    }

    private static String resource(String platform, String library) {
        return RESOURCES + platform + "/" + System.mapLibraryName(library);
    }

    private static String checksum(String resource) throws IOException {
        CRC32 crc = new CRC32();
        try (InputStream in = NativeLibraries.class.getResourceAsStream(resource)) {
            crc.update(in.readAllBytes());
        }
        return Long.toHexString(crc.getValue());
    }

    /** ONNX Runtime's name for this platform's resource folder, or null where it bundles none we know. */
    private static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String cpu = arch.equals("amd64") || arch.equals("x86_64") ? "x64" : arch.equals("aarch64") ? "aarch64" : null;
        if (cpu == null) {
            return null;
        }
        if (os.contains("linux")) {
            return "linux-" + cpu;
        }
        if (os.contains("mac") || os.contains("darwin")) {
            return "osx-" + cpu;
        }
        return os.contains("win") ? "win-" + cpu : null;
    }
}
