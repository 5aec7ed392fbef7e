package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.gguf.QuantisationError;
import dev.onnxsteer.quant.BlockQuantised;
import dev.onnxsteer.quant.NibblePairs;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Value;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The GGUF's weights as graph initializers: linear projections (float32 MatMul or MatMulNBits as the
 * {@link WeightFormat} says), biases, norm weights and the embedding, each handed to the {@link WeightSink}
 * as soon as it is made. Keeps count of what became MatMulNBits and how much requantisation cost.
 *
 * <h2>Rotary embedding and the GGUF q/k layout</h2>
 * llama GGUF files keep q and k weights in the original Meta layout, where rotary embedding turns
 * ADJACENT pairs {@code (x[2j], x[2j+1])} of each head (ggml's rope type NORM); llama.cpp's converter
 * permutes Hugging Face weights into that layout ({@code permute} in {@code convert_hf_to_gguf.py}: row
 * {@code (head, half, j)} of HF becomes row {@code (head, j, half)}). Projections undo that permutation
 * (HF row {@code h*D + s*D/2 + j} = GGUF row {@code h*D + 2j + s}, per head of k with the kv head count) so
 * that {@link LlamaGraph} can apply HF's half-split rotary embedding; the two are the same function, and the
 * result has exactly the weights an Optimum export of the HF model would have.
 */
final class Projections {
    /** MatMulNBits {@code accuracy_level} 0: activations stay float32 (the default: parity holds to float tolerances). */
    static final long FLOAT_ACTIVATIONS = 0;
    /**
     * {@code accuracy_level} 4: ONNX Runtime quantises activations to int8 per block and multiplies in integers,
     * as llama.cpp does for quantised weights. Measured (GgufDecodeBench, ONNX Runtime 1.27, one CPU thread):
     * 14-36x the decode speed of level 0 for 8 bits and 1-4.6x for 4 bits, for 1.5% of the largest logit (the
     * 1.2-2.5% llama.cpp itself differs by); see {@link GgufImporter.Options#int8Activations} for what it costs parity.
     */
    static final long INT8_ACTIVATIONS = 4;
    private final GgufFile gguf;
    private final WeightFormat format;
    private final long accuracyLevel;
    private final WeightSink sink;
    private final GraphBuilder b;
    private final Graph g;
    private int quantised;
    /** {@code Concat(x, x)} per projection input, shared by the projections that read the same x (q/k/v, gate/up). */
    private final Map<Value, Value> doubledInputs = new HashMap<>();
    private int requantised;
    private double worstRequantisationError;

    Projections(GgufFile gguf, WeightFormat format, boolean int8Activations, WeightSink sink, GraphBuilder builder) {
        this.gguf = gguf;
        this.format = format;
        this.accuracyLevel = int8Activations ? INT8_ACTIVATIONS : FLOAT_ACTIVATIONS;
        this.sink = sink;
        this.b = builder;
        this.g = builder.graph();
    }

    /** Linear projections stored as MatMulNBits so far (each part of a packed one counted). */
    int quantisedProjections() {
        return quantised;
    }

    /** How many of those were requantised rather than copied bit for bit. */
    int requantised() {
        return requantised;
    }

    /** The largest relative RMS error ||requantised - dequantised|| / ||dequantised|| so far (0 when none). */
    double worstRequantisationError() {
        return worstRequantisationError;
    }

    /**
     * Rows {@code first .. first+count-1} of GGUF matrix {@code tensor}, which has {@code tensorRows} rows (torch
     * layout [rows, cols]): a whole tensor, or one projection of a fused one.
     */
    record Rows(String tensor, int tensorRows, int first, int count) {
        Rows(String tensor, int tensorRows) {
            this(tensor, tensorRows, 0, tensorRows);
        }

        static Rows all(String tensor, int rows) {
            return new Rows(tensor, rows);
        }

        Rows slice(int from, int n) {
            return new Rows(tensor, tensorRows, first + from, n);
        }

        boolean whole() {
            return first == 0 && count == tensorRows;
        }

        float[] of(float[] data, int cols) {
            return whole() ? data : Arrays.copyOfRange(data, first * cols, (first + count) * cols);
        }
    }

    /**
     * {@code x} times the transpose of GGUF tensor rows {@code rows} (torch layout [out, in]), with rows
     * un-permuted from the GGUF rotary layout when {@code ropeHeads > 0}: a MatMul of a float32 [in, out]
     * initializer, or a MatMulNBits when the weight format asks for one (see {@link #blocks}). The node is
     * named {@code prefix/MatMul} or {@code prefix/MatMulNBits}; {@code output} names its output (null: the
     * graph picks a name).
     */
    Value linear(String prefix, Value x, String name, Rows rows, int in, int ropeHeads, String output) {
        BlockQuantised blocks = blocks(rows, in);
        if (blocks == null) {
            var node = g.op("MatMul").name(prefix + "/MatMul").inputs(x, weight(name, rows, in, ropeHeads));
            return output == null ? node.value() : node.outputs(output).value();
        }
        if (ropeHeads > 0) {
            blocks = blocks.permuteRows(ggufRows(rows.count(), ropeHeads));
        }
        return matMulNBits(prefix, x, name, blocks, in, output);
    }

    /**
     * {@code x} times several row sets side by side (the builder's packed q|k|v): one projection whose outputs are
     * {@code parts} in order, each un-permuted from the GGUF rotary layout by its {@code ropeHeads} entry. One MatMul
     * or one MatMulNBits when every part is stored alike; parts the weight format stores differently (a Q4_K_M
     * file's Q6_K v under keep) are projected one by one and concatenated.
     */
    Value packedLinear(String prefix, Value x, String name, List<Rows> parts, int in, int[] ropeHeads, String output) {
        List<BlockQuantised> blocks = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            BlockQuantised b = blocks(parts.get(i), in);
            blocks.add(b != null && ropeHeads[i] > 0 ? b.permuteRows(ggufRows(parts.get(i).count(), ropeHeads[i])) : b);
        }
        if (blocks.stream().allMatch(Objects::isNull)) {
            int out = parts.stream().mapToInt(Rows::count).sum();
            float[] data = new float[out * in];
            int row = 0;
            for (int i = 0; i < parts.size(); i++) {
                Rows rows = parts.get(i);
                float[] part = rows.of(floats(rows.tensor(), rows.tensorRows(), in), in);
                if (ropeHeads[i] > 0) {
                    part = unpermute(part, rows.count(), in, ropeHeads[i]);
                }
                System.arraycopy(part, 0, data, row * in, rows.count() * in);
                row += rows.count();
            }
            Value weight = g.addInitializer(name, sink.floats(new long[] {in, out}, transpose(data, out, in)));
            var node = g.op("MatMul").name(prefix + "/MatMul").inputs(x, weight);
            return output == null ? node.value() : node.outputs(output).value();
        }
        BlockQuantised first = blocks.get(0);
        boolean alike = blocks.stream().allMatch(b -> b != null && b.bits() == first.bits()
                && (b.zeroPoints() == null) == (first.zeroPoints() == null));
        if (alike) {
            quantised += parts.size() - 1; // a projection is counted per part, as the standard layout has them
            return matMulNBits(prefix, x, name, concatRows(blocks), in, output);
        }
        List<Value> each = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            BlockQuantised b = blocks.get(i);
            String partPrefix = prefix + "/part_" + i;
            each.add(b == null
                    ? g.op("MatMul").name(partPrefix + "/MatMul").inputs(x, weight(name + ".part_" + i, parts.get(i), in, ropeHeads[i])).value()
                    : matMulNBits(partPrefix, x, name + ".part_" + i, b, in, null));
        }
        var concat = g.op("Concat").name(prefix + "/Concat").inputs(each).attr("axis", -1L);
        return output == null ? concat.value() : concat.outputs(output).value();
    }

    /** Block rows of the same width and scheme stacked: row-major packed blocks, scales and zero points concatenate. */
    private static BlockQuantised concatRows(List<BlockQuantised> parts) {
        BlockQuantised first = parts.get(0);
        int rows = parts.stream().mapToInt(BlockQuantised::rows).sum();
        ByteArrayOutputStream packed = new ByteArrayOutputStream();
        ByteArrayOutputStream zeroPoints = new ByteArrayOutputStream();
        float[] scales = new float[parts.stream().mapToInt(b -> b.scales().length).sum()];
        int at = 0;
        for (BlockQuantised b : parts) {
            packed.writeBytes(b.packed());
            if (b.zeroPoints() != null) {
                zeroPoints.writeBytes(b.zeroPoints());
            }
            System.arraycopy(b.scales(), 0, scales, at, b.scales().length);
            at += b.scales().length;
        }
        return new BlockQuantised(rows, first.cols(), first.bits(), packed.toByteArray(), scales,
                first.zeroPoints() == null ? null : zeroPoints.toByteArray());
    }

    /** {@code x} times {@code blocks}' transpose as one MatMulNBits named {@code prefix/MatMulNBits}. */
    private Value matMulNBits(String prefix, Value x, String name, BlockQuantised blocks, int in, String output) {
        int out = blocks.rows();
        quantised++;
        if (blocks.bits() == 8 && accuracyLevel == FLOAT_ACTIVATIONS) {
            // ONNX Runtime's CPU kernel for 8 bits with float activations dequantises all of B on every call
            blocks = NibblePairs.split(blocks);
            x = doubled(x);
        }
        Value packed = g.addInitializer(name + ".packed", sink.bytes(DataType.UINT8,
                new long[] {out, blocks.blocksPerRow(), BlockQuantised.BLOCK * blocks.bits() / 8}, blocks.packed()));
        Value scales = g.addInitializer(name + ".scales", sink.floats(new long[] {(long) out * blocks.blocksPerRow()}, blocks.scales()));
        var node = g.op("MatMulNBits").domain(GraphBuilder.MS_DOMAIN).name(prefix + "/MatMulNBits")
                .attr("K", (long) blocks.cols()).attr("N", (long) out).attr("bits", (long) blocks.bits())
                .attr("block_size", (long) BlockQuantised.BLOCK).attr("accuracy_level", accuracyLevel);
        if (blocks.zeroPoints() != null) {
            Value zeroPoints = g.addInitializer(name + ".zero_points", sink.bytes(DataType.UINT8,
                    new long[] {(long) out * blocks.zeroPointBytesPerRow()}, blocks.zeroPoints()));
            node.inputs(x, packed, scales, zeroPoints);
        } else {
            node.inputs(x, packed, scales);
        }
        return output == null ? node.value() : node.outputs(output).value();
    }

    /** {@code Concat(x, x)} on the last axis, made once per x. */
    private Value doubled(Value x) {
        return doubledInputs.computeIfAbsent(x, v -> g.op("Concat").name(v.name() + "/Doubled").inputs(v, v).attr("axis", -1L).value());
    }

    /** {@code x + bias} when the GGUF has the bias tensor (qwen2's q/k/v), else {@code x}; q/k rows un-permuted as their weights are. */
    Value bias(String prefix, Value x, String name, String tensor, int size, int ropeHeads) {
        if (gguf.findTensor(tensor).isEmpty()) {
            return x;
        }
        float[] data = biasValues(tensor, size);
        if (ropeHeads > 0) {
            data = unpermute(data, size, 1, ropeHeads);
        }
        return b.op("Add", prefix + "/Add", x, g.addInitializer(name, sink.floats(new long[] {size}, data)));
    }

    /**
     * {@code x + [b_0 | b_1 | ...]} when the GGUF has every tensor of {@code tensors} (qwen2's q/k/v biases, for a
     * {@link #packedLinear}), {@code x} when it has none; each un-permuted by its {@code ropeHeads} entry.
     */
    Value packedBias(String prefix, Value x, String name, String[] tensors, int[] sizes, int[] ropeHeads) {
        long present = Arrays.stream(tensors).filter(t -> gguf.findTensor(t).isPresent()).count();
        if (present == 0) {
            return x;
        }
        if (present != tensors.length) {
            throw new BadModelException("GGUF " + gguf.path() + " has some of the biases " + String.join(", ", tensors)
                    + "; expected all of them or none");
        }
        float[] packed = new float[Arrays.stream(sizes).sum()];
        int at = 0;
        for (int i = 0; i < tensors.length; i++) {
            float[] data = biasValues(tensors[i], sizes[i]);
            System.arraycopy(ropeHeads[i] > 0 ? unpermute(data, sizes[i], 1, ropeHeads[i]) : data, 0, packed, at, sizes[i]);
            at += sizes[i];
        }
        return b.op("Add", prefix + "/Add", x, g.addInitializer(name, sink.floats(new long[] {packed.length}, packed)));
    }

    private float[] biasValues(String tensor, int size) {
        GgufTensorInfo info = gguf.tensor(tensor);
        if (info.elementCount() != size || info.dims().length != 1) {
            throw new BadModelException("tensor " + tensor + " in " + gguf.path() + " has shape " + Arrays.toString(info.shape())
                    + "; expected [" + size + "]");
        }
        return gguf.readFloats(info);
    }

    /** A 1-D float32 weight of {@code size} values (a norm weight). */
    Value vector(String name, String tensor, int size) {
        GgufTensorInfo info = gguf.tensor(tensor);
        if (info.elementCount() != size || info.dims().length != 1) {
            throw new BadModelException("tensor " + tensor + " in " + gguf.path() + " has shape " + Arrays.toString(info.shape())
                    + "; expected [" + size + "]");
        }
        return g.addInitializer(name, sink.floats(new long[] {size}, gguf.readFloats(info)));
    }

    /** A float32 matrix in torch layout [rows, cols] as it is (the embedding table). */
    Value matrix(String name, String tensor, int rows, int cols) {
        return g.addInitializer(name, sink.floats(new long[] {rows, cols}, floats(tensor, rows, cols)));
    }

    /**
     * The rows as MatMulNBits blocks, or null where they stay a float32 MatMul: format F32, a float tensor
     * under KEEP, or a row length that is not a whole number of 32-element blocks. Q4_0 (to 4 bits) and Q8_0
     * (to 8 bits) are copied bit for bit; everything else is requantised from its dequantised values (see
     * {@link #bitsFor}) and the error is recorded.
     */
    private BlockQuantised blocks(Rows rows, int cols) {
        GgufTensorInfo info = gguf.tensor(rows.tensor());
        GgmlType type = info.type();
        boolean floatType = type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16;
        if (format == WeightFormat.F32 || (format == WeightFormat.KEEP && floatType) || cols % BlockQuantised.BLOCK != 0) {
            return null;
        }
        checkMatrix(info, rows.tensorRows(), cols);
        if (type == GgmlType.Q4_0 && format != WeightFormat.INT8) {
            return BlockQuantised.fromQ4_0(gguf.rawData(info), rows.tensorRows(), cols).rows(rows.first(), rows.count());
        }
        if (type == GgmlType.Q8_0 && format != WeightFormat.INT4) {
            return BlockQuantised.fromQ8_0(gguf.rawData(info), rows.tensorRows(), cols).rows(rows.first(), rows.count());
        }
        float[] values = rows.of(gguf.readFloats(info), cols);
        int n = rows.count();
        BlockQuantised blocks = bitsFor(type) == 8 ? BlockQuantised.int8(values, n, cols) : BlockQuantised.int4(values, n, cols);
        requantised++;
        worstRequantisationError = Math.max(worstRequantisationError, QuantisationError.relativeRms(values, blocks.dequantise()));
        return blocks;
    }

    /** MatMulNBits width for a requantised tensor: the format's, or under KEEP the narrowest that holds the type's bits. */
    private int bitsFor(GgmlType type) {
        return switch (format) {
            case INT8 -> 8;
            case INT4 -> 4;
            default -> switch (type) {
                case Q5_0, Q5_1, Q5_K, Q6_K, Q8_1, Q8_K -> 8;
                default -> 4;
            };
        };
    }

    /** A linear layer's weight as MatMul wants it, [in, out]: rows un-permuted, then transposed. */
    private Value weight(String name, Rows rows, int in, int ropeHeads) {
        int out = rows.count();
        float[] data = rows.of(floats(rows.tensor(), rows.tensorRows(), in), in);
        if (ropeHeads > 0) {
            data = unpermute(data, out, in, ropeHeads);
        }
        return g.addInitializer(name, sink.floats(new long[] {in, out}, transpose(data, out, in)));
    }

    /** The tensor as float32 in torch layout [rows, cols] (ggml dims [cols, rows]), checking its shape. */
    private float[] floats(String tensor, int rows, int cols) {
        GgufTensorInfo info = gguf.tensor(tensor);
        checkMatrix(info, rows, cols);
        return gguf.readFloats(info);
    }

    private void checkMatrix(GgufTensorInfo info, int rows, int cols) {
        long[] dims = info.dims();
        if (dims.length != 2 || dims[0] != cols || dims[1] != rows) {
            throw new BadModelException("tensor " + info.name() + " in " + gguf.path() + " has shape " + Arrays.toString(info.shape())
                    + "; expected [" + rows + ", " + cols + "]");
        }
    }

    /** Rows in HF order taken from the GGUF rows: see {@link #ggufRows}. */
    static float[] unpermute(float[] data, int rows, int cols, int heads) {
        int[] from = ggufRows(rows, heads);
        float[] out = new float[data.length];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(data, from[r] * cols, out, r * cols, cols);
        }
        return out;
    }

    /** For each HF row, the GGUF row it takes: HF row h*D + s*D/2 + j is GGUF row h*D + 2j + s (inverse of llama.cpp's permute). */
    static int[] ggufRows(int rows, int heads) {
        int headDim = rows / heads;
        int half = headDim / 2;
        int[] from = new int[rows];
        for (int h = 0; h < heads; h++) {
            for (int s = 0; s < 2; s++) {
                for (int j = 0; j < half; j++) {
                    from[h * headDim + s * half + j] = h * headDim + 2 * j + s;
                }
            }
        }
        return from;
    }

    static float[] transpose(float[] data, int rows, int cols) {
        float[] out = new float[data.length];
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            for (int col = 0; col < cols; col++) {
                out[col * rows + r] = data[base + col];
            }
        }
        return out;
    }
}
