package dev.onnxsteer.vectors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Writes a SAELens-format directory as SAELens saves one: {@code cfg.json} ({@code d_in}, {@code d_sae},
 * {@code hook_name}, ...) and {@code sae_weights.safetensors} with {@code W_enc [d_in, d_sae]},
 * {@code b_enc [d_sae]}, {@code W_dec [d_sae, d_in]}, {@code b_dec [d_in]}, all F32 and seeded.
 * {@link #row} is what feature {@code f}'s decoder row holds, computed independently of the reader.
 */
public final class SaeFixture {
    public final int dIn;
    public final int dSae;
    public final long seed;

    public SaeFixture(int dIn, int dSae, long seed) {
        this.dIn = dIn;
        this.dSae = dSae;
        this.seed = seed;
    }

    /** Decoder values, {@code [d_sae, d_in]} row-major. */
    public float[] decoder() {
        Random random = new Random(seed);
        float[] w = new float[dSae * dIn];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) random.nextGaussian() * 0.3f;
        }
        return w;
    }

    public float[] row(int feature) {
        float[] row = new float[dIn];
        System.arraycopy(decoder(), feature * dIn, row, 0, dIn);
        return row;
    }

    /** Writes the directory; {@code transposed} stores {@code W_dec} as {@code [d_in, d_sae]} instead. */
    public Path write(Path dir, String hookName, boolean transposed) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = json.createObjectNode();
        cfg.put("architecture", "standard");
        cfg.put("d_in", dIn);
        cfg.put("d_sae", dSae);
        cfg.put("dtype", "float32");
        cfg.put("hook_name", hookName);
        cfg.put("hook_layer", Integer.parseInt(hookName.replaceAll("^blocks\\.(\\d+)\\..*$", "$1")));
        cfg.put("apply_b_dec_to_input", true);
        cfg.put("normalize_activations", "none");
        Files.writeString(dir.resolve("cfg.json"), json.writeValueAsString(cfg));

        float[] dec = decoder();
        if (transposed) {
            float[] t = new float[dec.length];
            for (int f = 0; f < dSae; f++) {
                for (int i = 0; i < dIn; i++) {
                    t[i * dSae + f] = dec[f * dIn + i];
                }
            }
            dec = t;
        }
        Random random = new Random(seed + 1);
        float[] enc = new float[dIn * dSae];
        for (int i = 0; i < enc.length; i++) {
            enc[i] = (float) random.nextGaussian();
        }
        float[] bEnc = new float[dSae];
        float[] bDec = new float[dIn];
        ObjectNode header = json.createObjectNode();
        long offset = 0;
        Object[][] tensors = {
            {"W_enc", new long[] {dIn, dSae}, enc},
            {"b_enc", new long[] {dSae}, bEnc},
            {"W_dec", transposed ? new long[] {dIn, dSae} : new long[] {dSae, dIn}, dec},
            {"b_dec", new long[] {dIn}, bDec},
        };
        for (Object[] t : tensors) {
            ObjectNode node = header.putObject((String) t[0]);
            node.put("dtype", "F32");
            for (long d : (long[]) t[1]) {
                node.withArray("shape").add(d);
            }
            long bytes = 4L * ((float[]) t[2]).length;
            node.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] head = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate((int) (8 + head.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(head.length).put(head);
        for (Object[] t : tensors) {
            for (float x : (float[]) t[2]) {
                out.putFloat(x);
            }
        }
        Files.write(dir.resolve("sae_weights.safetensors"), out.array());
        return dir;
    }
}
