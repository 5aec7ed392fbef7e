package dev.onnxsteer.generate;

import java.util.Arrays;
import java.util.List;

/**
 * The tokens of a batch as one model run sees them: each row's prompt followed by what was generated for
 * it, padded to a common width. Rows grow together, one token per decode step (a finished row is fed a
 * pad token that counts as one of its tokens), so every row has as many generated tokens as the others.
 * The width is the longest row; where a row's shorter tokens sit in it depends on the {@link Alignment}.
 */
public final class TokenGrid {

    /** Where a shorter row's tokens sit in the grid. */
    public enum Alignment {
        /**
         * Pads before the tokens; a decoded token lands in the same column for every row. Fits graphs whose
         * attention honours the mask column by column (standard ops, ORT {@code Attention}).
         */
        LEFT,
        /**
         * Tokens from column 0, pads after. Fits graphs that take only each row's length from the mask and
         * keep every row's cache from position 0 ({@code com.microsoft.GroupQueryAttention} reads
         * {@code seqlens_k} = mask sum - 1 and writes a row's next key at that index).
         */
        RIGHT
    }

    private final long[][] tokens;
    private final int[] lengths;
    private final long[] promptLengths;
    private final Alignment alignment;
    private final long pad;
    private int width;

    /**
     * @param prompts  each at least one token
     * @param capacity tokens each row may grow by
     * @param pad      the id fed in padded slots (masked out, so any valid id does)
     */
    public TokenGrid(List<long[]> prompts, int capacity, Alignment alignment, long pad) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one prompt");
        }
        int batch = prompts.size();
        for (int r = 0; r < batch; r++) {
            if (prompts.get(r).length == 0) {
                throw new IllegalArgumentException("prompt " + r + " of the batch has no tokens");
            }
            width = Math.max(width, prompts.get(r).length);
        }
        this.alignment = alignment;
        this.pad = pad;
        this.tokens = new long[batch][];
        this.lengths = new int[batch];
        this.promptLengths = new long[batch];
        for (int r = 0; r < batch; r++) {
            long[] prompt = prompts.get(r);
            tokens[r] = Arrays.copyOf(prompt, prompt.length + capacity);
            lengths[r] = prompt.length;
            promptLengths[r] = prompt.length;
        }
    }

    public int batchSize() {
        return tokens.length;
    }

    /** Columns of the full grid: the longest row. */
    public int width() {
        return width;
    }

    public Alignment alignment() {
        return alignment;
    }

    /** Tokens in row {@code row} so far (prompt, generated and pads fed after it finished). */
    public int length(int row) {
        return lengths[row];
    }

    /** The column of row {@code row}'s first token in the full grid. */
    public int offset(int row) {
        return alignment == Alignment.LEFT ? width - lengths[row] : 0;
    }

    /** Each row's prompt length, as a position-masked model is fed it. */
    public long[] promptLengths() {
        return promptLengths.clone();
    }

    /** Adds one token to every row ({@code column[r]} to row r). */
    public void append(long[] column) {
        if (column.length != tokens.length) {
            throw new IllegalArgumentException("a column has " + column.length + " tokens for " + tokens.length + " rows");
        }
        for (int r = 0; r < tokens.length; r++) {
            tokens[r][lengths[r]++] = column[r];
        }
        width++;
    }

    /**
     * The window a run feeds: the whole grid ({@code pastLength} 0), or each row's last
     * {@code width - pastLength} tokens on top of a cache that holds the rest.
     */
    public Window window(int pastLength) {
        if (pastLength < 0 || pastLength >= width) {
            throw new IllegalArgumentException("past length " + pastLength + " outside [0, " + width + ")");
        }
        return new Window(pastLength);
    }

    /** The ids, positions and mask of one run; flat row-major arrays. */
    public final class Window {
        private final int pastLength;

        private Window(int pastLength) {
            this.pastLength = pastLength;
        }

        /** Positions already in the cache. */
        public int pastLength() {
            return pastLength;
        }

        /** Tokens fed per row. */
        public int inputLength() {
            return width - pastLength;
        }

        /** Writes the {@code [batch, inputLength]} token ids, the pad id in padded slots. */
        public void writeIds(Sink out) {
            fill(out, false);
        }

        /** Writes the {@code [batch, inputLength]} positions counted from each row's first token, 0 on padding. */
        public void writePositions(Sink out) {
            fill(out, true);
        }

        /** Writes the {@code [batch, width]} mask: 1 on each row's tokens, 0 on its padding. */
        public void writeMask(Sink out) {
            for (int r = 0; r < tokens.length; r++) {
                int from = offset(r);
                int to = from + lengths[r];
                for (int c = 0; c < width; c++) {
                    out.put(r * width + c, c >= from && c < to ? 1 : 0);
                }
            }
        }

        /** Where row {@code row}'s newest token is among the {@code inputLength} fed positions. */
        public int lastIndex(int row) {
            return pastLength == 0 ? offset(row) + lengths[row] - 1 : inputLength() - 1;
        }

        private void fill(Sink out, boolean positions) {
            int n = inputLength();
            for (int r = 0; r < tokens.length; r++) {
                // the token index fed at window slot 0: a full pass starts at the row's offset, a cached one
                // feeds the row's last n tokens
                int first = pastLength == 0 ? -offset(r) : lengths[r] - n;
                for (int i = 0; i < n; i++) {
                    int t = first + i;
                    boolean token = t >= 0 && t < lengths[r];
                    out.put(r * n + i, positions ? (token ? t : 0) : (token ? tokens[r][t] : pad));
                }
            }
        }
    }

    /** Receives the values of one of a run's integer inputs by flat row-major index (written in place, no array). */
    public interface Sink {
        void put(int index, long value);
    }
}
