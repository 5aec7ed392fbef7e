package dev.onnxsteer.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One hand-built block per quantised type, bytes placed as ggml-common.h lays the block out, and a few
 * values worked out by hand from the formulas of ggml-quants.c's dequantize_row_* (the oracle here is that
 * documentation; QuantisedFilesTest holds the bit-for-bit comparison with llama.cpp itself).
 */
class BlockFormatsTest {
    private static final short ONE = 0x3C00;
    private static final short HALF = 0x3800;
    private static final short MINUS_ONE = (short) 0xBC00;

    @TempDir
    Path tmp;

    private float[] decode(int typeId, int elements, ByteBuffer block) throws Exception {
        Path p = tmp.resolve("t" + typeId + ".gguf");
        Files.write(p, new GgufBytes().tensor("t", new long[] {elements}, typeId, block.array()).build());
        try (GgufFile gguf = GgufFile.open(p)) {
            return gguf.readFloats("t");
        }
    }

    @Test
    void q4_0() throws Exception {
        ByteBuffer b = GgufBytes.le(18).putShort(HALF).put((byte) 0xF1);
        float[] y = decode(2, 32, b);
        assertEquals(-3.5f, y[0]); // (1 - 8) * 0.5, low nibble of byte 0
        assertEquals(3.5f, y[16]); // (15 - 8) * 0.5, high nibble of byte 0
        assertEquals(-4f, y[1]);
    }

    @Test
    void q4_1() throws Exception {
        ByteBuffer b = GgufBytes.le(20).putShort(ONE).putShort(MINUS_ONE).put((byte) 0x2F);
        float[] y = decode(3, 32, b);
        assertEquals(14f, y[0]); // 15 * 1 + (-1)
        assertEquals(1f, y[16]); // 2 * 1 + (-1)
        assertEquals(-1f, y[1]);
    }

    @Test
    void q5_0() throws Exception {
        ByteBuffer b = GgufBytes.le(22).putShort(ONE).putInt(1 | 1 << 17).put((byte) 0x3F);
        float[] y = decode(6, 32, b);
        assertEquals(15f, y[0]); // (15 | 16) - 16: fifth bit of element 0 is qh bit 0
        assertEquals(-13f, y[16]); // 3 - 16: qh bit 16 clear
        assertEquals(0f, y[17]); // (0 | 16) - 16: qh bit 17 set
        assertEquals(-16f, y[1]);
    }

    @Test
    void q5_1() throws Exception {
        ByteBuffer b = GgufBytes.le(24).putShort(HALF).putShort(ONE).putInt(1 << 31);
        b.put(8 + 15, (byte) 0xF0);
        float[] y = decode(7, 32, b);
        assertEquals(16.5f, y[31]); // (15 | 16) * 0.5 + 1
        assertEquals(1f, y[15]);
        assertEquals(1f, y[0]);
    }

    @Test
    void q2_K() throws Exception {
        ByteBuffer b = GgufBytes.le(84);
        b.put(0, (byte) 0x21).put(2, (byte) 0x03).put(4, (byte) 0x12).put(6, (byte) 0x0F); // scale | min << 4
        b.put(16, (byte) 0xE4); // 2-bit quants 0, 1, 2, 3 for elements 0, 32, 64, 96
        b.putShort(80, ONE).putShort(82, HALF);
        float[] y = decode(10, 256, b);
        assertEquals(-1f, y[0]); // 1 * 0 - 2 * 0.5
        assertEquals(0f, y[16]); // sub-block 1: scale 0, min 0
        assertEquals(3f, y[32]); // 3 * 1 - 0
        assertEquals(3.5f, y[64]); // 2 * 2 - 1 * 0.5
        assertEquals(45f, y[96]); // 15 * 3 - 0
        assertEquals(-1f, y[1]);
    }

    @Test
    void q3_K() throws Exception {
        ByteBuffer b = GgufBytes.le(110);
        b.put(0, (byte) 0x01).put(16, (byte) 0x10); // high bits: element 0 (bit 0), element 144 (bit 4)
        b.put(32, (byte) 0x03).put(32 + 48, (byte) 0x02); // low bits of elements 0 and 144
        // scales: every 6-bit scale 32 (low nibble 0, high pair 2) except scale 0 = 33 and scale 9 = 37
        b.put(96, (byte) 0x01).put(97, (byte) 0x50);
        for (int i = 104; i < 108; i++) {
            b.put(i, (byte) 0xAA);
        }
        b.putShort(108, ONE);
        float[] y = decode(11, 256, b);
        assertEquals(3f, y[0]); // (33 - 32) * (3 - 0)
        assertEquals(-4f, y[1]); // (33 - 32) * (0 - 4): high bit clear
        assertEquals(10f, y[144]); // (37 - 32) * (2 - 0)
        assertEquals(-20f, y[145]);
    }

    @Test
    void q4_K() throws Exception {
        ByteBuffer b = GgufBytes.le(144).putShort(ONE).putShort(ONE);
        // scale 0 = 2, min 0 = 1; scale 5 = 3 | (byte 1 >> 6) << 4 = 19, min 5 = 1
        b.put(4, (byte) 0x02).put(5, (byte) 0x40).put(8, (byte) 0x01).put(13, (byte) 0x13);
        b.put(16, (byte) 0x07).put(16 + 64, (byte) 0xA0);
        float[] y = decode(12, 256, b);
        assertEquals(13f, y[0]); // 2 * 7 - 1
        assertEquals(-1f, y[1]);
        assertEquals(0f, y[32]); // sub-block 1: high nibble 0, scale 0, min 0
        assertEquals(189f, y[160]); // 19 * 10 - 1: sub-block 5 is the high nibbles of bytes 64..95
    }

    @Test
    void q5_K() throws Exception {
        ByteBuffer b = GgufBytes.le(176).putShort(ONE).putShort(ONE);
        b.put(4, (byte) 0x02).put(5, (byte) 0x40).put(8, (byte) 0x01).put(13, (byte) 0x13);
        b.put(16, (byte) 0x21); // fifth bits: sub-block 0 is bit 0, sub-block 5 is bit 5
        b.put(48, (byte) 0x07).put(48 + 64, (byte) 0xA0);
        float[] y = decode(13, 256, b);
        assertEquals(45f, y[0]); // 2 * (7 + 16) - 1
        assertEquals(-1f, y[1]);
        assertEquals(493f, y[160]); // 19 * (10 + 16) - 1
    }

    @Test
    void q6_K() throws Exception {
        ByteBuffer b = GgufBytes.le(210);
        b.put(0, (byte) 0x1F).put(128, (byte) 0x32);
        b.put(192, (byte) 2).put(194, (byte) -1).put(196, (byte) 4);
        b.putShort(208, HALF);
        float[] y = decode(14, 256, b);
        assertEquals(15f, y[0]); // 0.5 * 2 * ((15 | 2 << 4) - 32)
        assertEquals(16f, y[32]); // 0.5 * -1 * (0 - 32)
        assertEquals(34f, y[64]); // 0.5 * 4 * ((1 | 3 << 4) - 32)
    }

    @Test
    void iq4_nl() throws Exception {
        ByteBuffer b = GgufBytes.le(18).putShort(HALF).put((byte) 0xF0);
        float[] y = decode(20, 32, b);
        assertEquals(-63.5f, y[0]); // 0.5 * level[0] = 0.5 * -127
        assertEquals(56.5f, y[16]); // 0.5 * level[15] = 0.5 * 113
    }

    @Test
    void iq4_xs() throws Exception {
        // sub-block scales 32 (no effect) except sub-block 0: 33 and sub-block 3: 34
        ByteBuffer b = GgufBytes.le(136).putShort(HALF).putShort((short) 0xAAAA).put((byte) 0x01).put((byte) 0x20);
        b.put(8, (byte) 0x8F).put(8 + 48, (byte) 0x07);
        float[] y = decode(23, 256, b);
        assertEquals(56.5f, y[0]); // 0.5 * (33 - 32) * level[15]
        assertEquals(0.5f, y[16]); // 0.5 * 1 * level[8] = 0.5 * 1
        assertEquals(-10f, y[96]); // 0.5 * (34 - 32) * level[7]
        assertEquals(-127f, y[112]); // 1.0 * level[0]
    }
}
