package dev.onnxsteer;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.platform.Fp16Conversions;
import ai.onnxruntime.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Test support: runs a model file under ONNX Runtime on seeded inputs built from its declared
 * inputs, and returns every output's raw bytes, so tests can compare models bit for bit.
 */
public final class OrtRunner {
    private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    private OrtRunner() {}

    /**
     * Sizes for symbolic dimensions: names containing "batch" get {@code batch}, names containing "past" get
     * {@code past}, the last dim of ids gets {@code seq}. Bool inputs are all true.
     */
    public record Sizes(long batch, long seq, long past, int vocab) {
        public static Sizes small(int vocab) {
            return new Sizes(2, 5, 3, vocab);
        }
    }

    /** All outputs of {@code model} on seeded inputs, as raw little-endian bytes by output name. */
    public static Map<String, byte[]> run(Path model, Sizes sizes, long seed, boolean optimize) {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(optimize ? OrtSession.SessionOptions.OptLevel.ALL_OPT
                    : OrtSession.SessionOptions.OptLevel.NO_OPT);
            options.setIntraOpNumThreads(1);
            try (OrtSession session = ENV.createSession(model.toString(), options)) {
                Map<String, OnnxTensor> feeds = feeds(session, sizes, seed);
                try (OrtSession.Result result = session.run(feeds)) {
                    Map<String, byte[]> outputs = new LinkedHashMap<>();
                    for (Map.Entry<String, ai.onnxruntime.OnnxValue> entry : result) {
                        ByteBuffer bytes = bytes((OnnxTensor) entry.getValue());
                        byte[] copy = new byte[bytes.remaining()];
                        bytes.get(copy);
                        outputs.put(entry.getKey(), copy);
                    }
                    return outputs;
                } finally {
                    feeds.values().forEach(OnnxTensor::close);
                }
            }
        } catch (OrtException e) {
            throw new AssertionError("ONNX Runtime failed on " + model + ": " + e.getMessage(), e);
        }
    }

    /** Raw bytes; float16 and bfloat16 widened to float32 (exactly), so {@link #floats} reads every float output. */
    private static ByteBuffer bytes(OnnxTensor tensor) {
        OnnxJavaType type = tensor.getInfo().type;
        if (type != OnnxJavaType.FLOAT16 && type != OnnxJavaType.BFLOAT16) {
            return tensor.getByteBuffer();
        }
        FloatBuffer widened = tensor.getFloatBuffer();
        ByteBuffer bytes = ByteBuffer.allocate(widened.remaining() * 4).order(ByteOrder.nativeOrder());
        bytes.asFloatBuffer().put(widened);
        return bytes;
    }

    /** Float view of raw output bytes. */
    public static float[] floats(byte[] raw) {
        FloatBuffer buffer = ByteBuffer.wrap(raw).order(ByteOrder.nativeOrder()).asFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs((double) a[i] - b[i]));
        }
        return max;
    }

    private static Map<String, OnnxTensor> feeds(OrtSession session, Sizes sizes, long seed) throws OrtException {
        Random random = new Random(seed);
        boolean hasPast = session.getInputNames().stream().anyMatch(n -> n.contains("past"));
        Map<String, OnnxTensor> feeds = new HashMap<>();
        for (Map.Entry<String, NodeInfo> entry : session.getInputInfo().entrySet()) {
            String name = entry.getKey();
            TensorInfo info = (TensorInfo) entry.getValue().getInfo();
            long[] shape = info.getShape().clone();
            String[] symbols = info.getDimensionNames();
            for (int i = 0; i < shape.length; i++) {
                if (shape[i] < 0) {
                    String symbol = symbols[i].toLowerCase();
                    boolean past = symbol.contains("past") || name.contains("past") && i == shape.length - 2;
                    shape[i] = symbol.contains("batch") || i == 0 && !name.startsWith("past") ? sizes.batch()
                            : past ? sizes.past()
                            : name.contains("mask") && hasPast ? sizes.past() + sizes.seq()
                            : name.startsWith("past") && i == 1 ? sizes.batch()
                            : sizes.seq();
                }
            }
            int count = 1;
            for (long d : shape) {
                count *= (int) d;
            }
            feeds.put(name, tensor(name, info.type, shape, count, sizes, random));
        }
        return feeds;
    }

    private static OnnxTensor tensor(String name, OnnxJavaType type, long[] shape, int count, Sizes sizes, Random random)
            throws OrtException {
        boolean mask = name.contains("mask");
        boolean positions = name.contains("position");
        boolean typeIds = name.contains("token_type");
        if (type == OnnxJavaType.FLOAT || type == OnnxJavaType.FLOAT16 || type == OnnxJavaType.BFLOAT16) {
            float[] values = new float[count];
            for (int i = 0; i < count; i++) {
                values[i] = (float) random.nextGaussian();
            }
            FloatBuffer floats = FloatBuffer.wrap(values);
            return switch (type) {
                case FLOAT16 -> OnnxTensor.createTensor(ENV, Fp16Conversions.convertFloatBufferToFp16Buffer(floats), shape, type);
                case BFLOAT16 -> OnnxTensor.createTensor(ENV, Fp16Conversions.convertFloatBufferToBf16Buffer(floats), shape, type);
                default -> OnnxTensor.createTensor(ENV, floats, shape);
            };
        }
        if (type == OnnxJavaType.BOOL) {
            // flags such as a merged decoder's use_cache_branch: true, so the past inputs are used
            ByteBuffer flags = ByteBuffer.allocateDirect(count);
            for (int i = 0; i < count; i++) {
                flags.put(i, (byte) 1);
            }
            return OnnxTensor.createTensor(ENV, flags, shape, OnnxJavaType.BOOL);
        }
        long[] values = new long[count];
        long last = shape.length == 0 ? 1 : shape[shape.length - 1];
        for (int i = 0; i < count; i++) {
            values[i] = mask ? 1 : positions ? sizes.past() + i % last : typeIds ? 0 : random.nextInt(sizes.vocab());
        }
        if (type == OnnxJavaType.INT32) {
            int[] ints = new int[count];
            for (int i = 0; i < count; i++) {
                ints[i] = (int) values[i];
            }
            return OnnxTensor.createTensor(ENV, IntBuffer.wrap(ints), shape);
        }
        return OnnxTensor.createTensor(ENV, LongBuffer.wrap(values), shape);
    }
}
