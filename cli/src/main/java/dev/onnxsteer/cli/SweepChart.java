package dev.onnxsteer.cli;

import dev.onnxsteer.extract.Sweep;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A PNG of a sweep drawn with java.awt in headless mode: two panels sharing the layer axis, held-out
 * accuracy (0 to 1, chance dashed at 0.5) and the class gap in standard deviations, one bar per layer,
 * the best layer highlighted.
 */
final class SweepChart {
    private static final int WIDTH = 900;
    private static final int PANEL = 260;
    private static final int LEFT = 80;
    private static final int RIGHT = 70;
    private static final int TOP = 60;
    private static final int GAP = 70;
    private static final int BOTTOM = 60;

    private SweepChart() {}

    static void write(Sweep.Result result, String title, Path file) {
        int height = TOP + PANEL + GAP + PANEL + BOTTOM;
        BufferedImage image = Charts.canvas(WIDTH, height);
        Graphics2D g = image.createGraphics();
        try {
            Charts.prepare(g, WIDTH, height);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            g.drawString(title, LEFT, 30);
            List<Sweep.LayerSeparation> layers = result.layers();
            int best = result.best().layer();
            double[] accuracy = layers.stream().mapToDouble(Sweep.LayerSeparation::accuracy).toArray();
            double[] gap = layers.stream().mapToDouble(s -> Double.isFinite(s.gap()) ? s.gap() : 0).toArray();
            double gapMax = Math.max(1e-9, niceCeiling(max(gap)));
            double gapMin = Math.min(0, -niceCeiling(-min(gap)));
            panel(g, TOP, "held-out accuracy", layers, accuracy, 0, 1, best, 0.5);
            panel(g, TOP + PANEL + GAP, "class gap (standard deviations)", layers, gap, gapMin, gapMax, best, Double.NaN);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            Charts.drawCentered(g, "layer", LEFT + (WIDTH - LEFT - RIGHT) / 2, height - 15);
        } finally {
            g.dispose();
        }
        Charts.writePng(image, file);
    }

    private static void panel(Graphics2D g, int top, String label, List<Sweep.LayerSeparation> layers, double[] values,
            double min, double max, int best, double reference) {
        int plotWidth = WIDTH - LEFT - RIGHT;
        int bottom = top + PANEL;
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.setColor(Color.BLACK);
        g.drawString(label, LEFT, top - 10);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        // y grid and tick labels
        for (int i = 0; i <= 4; i++) {
            double value = min + (max - min) * i / 4;
            int y = Charts.y(value, min, max, top, bottom);
            g.setColor(new Color(0xE0E0E0));
            g.drawLine(LEFT, y, LEFT + plotWidth, y);
            g.setColor(Color.DARK_GRAY);
            String text = String.format(Locale.ROOT, max - min <= 2 ? "%.2f" : "%.1f", value);
            FontMetrics metrics = g.getFontMetrics();
            g.drawString(text, LEFT - 8 - metrics.stringWidth(text), y + metrics.getAscent() / 2 - 1);
        }
        if (!Double.isNaN(reference)) {
            int y = Charts.y(reference, min, max, top, bottom);
            g.setColor(Color.GRAY);
            g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
            g.drawLine(LEFT, y, LEFT + plotWidth, y);
            g.setStroke(new BasicStroke(1));
            g.drawString("chance", LEFT + plotWidth + 6, y + 4);
        }
        int n = values.length;
        double slot = (double) plotWidth / n;
        int barWidth = (int) Math.max(2, slot * 0.6);
        int zero = Charts.y(Math.max(min, 0), min, max, top, bottom);
        for (int i = 0; i < n; i++) {
            int x = (int) (LEFT + slot * i + (slot - barWidth) / 2);
            int y = Charts.y(values[i], min, max, top, bottom);
            g.setColor(layers.get(i).layer() == best ? Charts.BEST : Charts.BAR);
            g.fillRect(x, Math.min(y, zero), barWidth, Math.max(1, Math.abs(zero - y)));
            g.setColor(Color.BLACK);
            String text = String.format(Locale.ROOT, max - min <= 2 ? "%.2f" : "%.1f", values[i]);
            if (slot > 28) {
                Charts.drawCentered(g, text, x + barWidth / 2, Math.min(y, zero) - 4);
            }
            Charts.drawCentered(g, Integer.toString(layers.get(i).layer()), x + barWidth / 2, bottom + 16);
        }
        g.setColor(Color.BLACK);
        g.drawLine(LEFT, top, LEFT, bottom);
        g.drawLine(LEFT, zero, LEFT + plotWidth, zero);
    }

    private static double niceCeiling(double value) {
        if (value <= 0) {
            return 0;
        }
        double magnitude = Math.pow(10, Math.floor(Math.log10(value)));
        for (double step : new double[] {1, 2, 2.5, 5, 10}) {
            if (step * magnitude >= value) {
                return step * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static double max(double[] values) {
        double m = Double.NEGATIVE_INFINITY;
        for (double v : values) {
            m = Math.max(m, v);
        }
        return m;
    }

    private static double min(double[] values) {
        double m = Double.POSITIVE_INFINITY;
        for (double v : values) {
            m = Math.min(m, v);
        }
        return m;
    }
}
