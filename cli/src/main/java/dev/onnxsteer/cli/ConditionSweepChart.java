package dev.onnxsteer.cli;

import dev.onnxsteer.extract.ConditionSweep;
import dev.onnxsteer.vectors.ConditionMetadata;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A PNG of a condition sweep, drawn as {@link SweepChart} draws a sweep: one panel per aggregate sharing
 * the layer axis, two bars per layer (the best held-out F1 firing above and below its threshold, the
 * threshold written inside the bar), the chosen cell outlined.
 */
final class ConditionSweepChart {
    private static final int WIDTH = 900;
    private static final int PANEL = 240;
    private static final int LEFT = 80;
    private static final int RIGHT = 40;
    private static final int TOP = 120;
    private static final int GAP = 100;
    private static final int BOTTOM = 50;
    private static final Color BELOW = new Color(0x72B7B2);

    private ConditionSweepChart() {}

    /** One aggregate's sweep. */
    record Panel(String aggregate, ConditionSweep.Result result) {}

    static void write(List<Panel> panels, Panel bestPanel, String title, Path file) {
        int height = TOP + panels.size() * PANEL + (panels.size() - 1) * GAP + BOTTOM;
        BufferedImage image = Charts.canvas(WIDTH, height);
        Graphics2D g = image.createGraphics();
        try {
            Charts.prepare(g, WIDTH, height);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            g.drawString(title, LEFT - 60, 26);
            legend(g, 56);
            ConditionSweep.Choice best = bestPanel.result().best();
            for (int i = 0; i < panels.size(); i++) {
                Panel p = panels.get(i);
                panel(g, TOP + i * (PANEL + GAP), p, p == bestPanel ? best : null);
            }
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            Charts.drawCentered(g, "condition layer", LEFT + (WIDTH - LEFT - RIGHT) / 2, height - 12);
        } finally {
            g.dispose();
        }
        Charts.writePng(image, file);
    }

    private static void legend(Graphics2D g, int baseline) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        int x = LEFT;
        Object[][] items = {{Charts.BAR, "fires above the threshold"}, {BELOW, "fires below the threshold"},
                {Charts.BEST, "chosen (outlined)"}};
        for (Object[] item : items) {
            g.setColor((Color) item[0]);
            g.fillRect(x, baseline - 11, 14, 14);
            g.setColor(Color.BLACK);
            g.drawString((String) item[1], x + 20, baseline);
            x += 40 + g.getFontMetrics().stringWidth((String) item[1]);
        }
    }

    private static void panel(Graphics2D g, int top, Panel panel, ConditionSweep.Choice best) {
        int plotWidth = WIDTH - LEFT - RIGHT;
        int bottom = top + PANEL;
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.setColor(Color.BLACK);
        g.drawString("held-out F1 at the best threshold, aggregate " + panel.aggregate() + " (threshold written in the bar)",
                LEFT, top - 36);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i <= 4; i++) {
            double value = i / 4.0;
            int y = Charts.y(value, 0, 1, top, bottom);
            g.setColor(new Color(0xE0E0E0));
            g.drawLine(LEFT, y, LEFT + plotWidth, y);
            g.setColor(Color.DARK_GRAY);
            String text = String.format(Locale.ROOT, "%.2f", value);
            g.drawString(text, LEFT - 8 - g.getFontMetrics().stringWidth(text), y + g.getFontMetrics().getAscent() / 2 - 1);
        }
        List<ConditionSweep.LayerResult> layers = panel.result().layers();
        double slot = (double) plotWidth / layers.size();
        int barWidth = (int) Math.max(4, Math.min(60, slot * 0.3));
        for (int i = 0; i < layers.size(); i++) {
            ConditionSweep.LayerResult layer = layers.get(i);
            int centre = (int) (LEFT + slot * i + slot / 2);
            bar(g, centre - barWidth - 2, barWidth, top, bottom, layer.above(), Charts.BAR, best, slot);
            bar(g, centre + 2, barWidth, top, bottom, layer.below(), BELOW, best, slot);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            Charts.drawCentered(g, Integer.toString(layer.layer()), centre, bottom + 18);
        }
        g.setColor(Color.BLACK);
        g.drawLine(LEFT, top, LEFT, bottom);
        g.drawLine(LEFT, bottom, LEFT + plotWidth, bottom);
    }

    private static void bar(Graphics2D g, int x, int width, int top, int bottom, ConditionSweep.Choice choice, Color color,
            ConditionSweep.Choice best, double slot) {
        double f1 = choice.cell().f1();
        int y = Charts.y(f1, 0, 1, top, bottom);
        g.setColor(color);
        g.fillRect(x, y, width, Math.max(1, bottom - y));
        if (choice == best) {
            g.setColor(Charts.BEST);
            g.setStroke(new BasicStroke(3));
            g.drawRect(x - 1, y - 1, width + 2, Math.max(1, bottom - y) + 2);
            g.setStroke(new BasicStroke(1));
        }
        if (slot > 70) {
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            Charts.drawCentered(g, String.format(Locale.ROOT, "%.2f", f1), x + width / 2, y - 6);
            if (bottom - y > 20) {
                g.setColor(Color.WHITE);
                Charts.drawCentered(g, ConditionMetadata.number(choice.cell().threshold()), x + width / 2, bottom - 7);
            }
        }
    }
}
