package dev.onnxsteer.cli;

import dev.onnxsteer.io.AtomicFiles;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** What the sweep charts share: the value-to-pixel scale, centred labels, and writing the PNG atomically. */
final class Charts {
    /** A bar, and the chosen one. */
    static final Color BAR = new Color(0x4C78A8);
    static final Color BEST = new Color(0xF58518);

    private Charts() {}

    /** A white RGB image of that size, drawn headless (no display is needed or used). */
    static BufferedImage canvas(int width, int height) {
        System.setProperty("java.awt.headless", "true");
        return new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    }

    /** Antialiased shapes and text, a white background, black ink. */
    static void prepare(Graphics2D g, int width, int height) {
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
    }

    /** The pixel row of {@code value} on an axis from {@code min} (at {@code bottom}) to {@code max} (at {@code top}). */
    static int y(double value, double min, double max, int top, int bottom) {
        double clamped = Math.max(min, Math.min(max, value));
        return (int) Math.round(bottom - (clamped - min) / (max - min) * (bottom - top));
    }

    static void drawCentered(Graphics2D g, String text, int x, int baseline) {
        g.drawString(text, x - g.getFontMetrics().stringWidth(text) / 2, baseline);
    }

    static void writePng(BufferedImage image, Path file) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(image, "png", bytes)) {
                throw new IllegalStateException("no PNG writer available in this Java runtime");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode the chart: " + e.getMessage(), e);
        }
        AtomicFiles.write(file, bytes.toByteArray());
    }
}
