package dev.onnxsteer.passes;

/**
 * How a {@link SteerPass} changes each site beyond which vector goes where.
 *
 * @param op           the operation (for {@link SteerOp#CLAMP} the steering's coefficient is the target projection)
 * @param positions    which token positions are changed
 * @param preserveNorm rescale each changed position back to its original norm
 * @param bank         with {@link Mode#INPUT}: the vectors given for one site are the rows of a bank
 *                     ({@value SteerPass#BANK_INPUT}, {@value SteerPass#INDEX_INPUT}, {@value SteerPass#SCALE_INPUT})
 *                     instead of being summed, so each row of a batch picks its own vector and strength
 * @param createBias   with {@link Mode#BIAS} at a sublayer input (attn_in, mlp_in): give each projection
 *                     without a bias one bias initializer to fold into, instead of refusing (see
 *                     {@link SublayerInputBias})
 * @param exact        refuse an edit of quantised weights whose requantisation would not store exactly the
 *                     edited values (see {@link QuantisedOrthogonalize})
 */
public record SteerOptions(SteerOp op, Positions positions, boolean preserveNorm, boolean bank, boolean createBias,
        boolean exact) {
    /** Plain addition at every position: what the compiler did before operations existed. */
    public static final SteerOptions ADD = new SteerOptions(SteerOp.ADD, Positions.ALL, false, false, false);

    public SteerOptions(SteerOp op, Positions positions, boolean preserveNorm, boolean bank, boolean createBias) {
        this(op, positions, preserveNorm, bank, createBias, false);
    }

    public SteerOptions {
        if (op == null || positions == null) {
            throw new IllegalArgumentException("op and positions are required");
        }
        if (op == SteerOp.ORTHOGONALIZE && !positions.isAll()) {
            throw new IllegalArgumentException("orthogonalize rewrites weights, which act at every position; "
                    + "--positions " + positions + " cannot apply (use --op ablate with --positions instead)");
        }
        if (op == SteerOp.ORTHOGONALIZE && preserveNorm) {
            throw new IllegalArgumentException("orthogonalize rewrites weights; --preserve-norm does not apply to it");
        }
        if (bank && op != SteerOp.ADD) {
            throw new IllegalArgumentException("a vector bank scales a per-row vector, so it supports --op add only; got "
                    + op.label());
        }
    }

    public static SteerOptions of(SteerOp op) {
        return new SteerOptions(op, Positions.ALL, false, false, false);
    }

    public SteerOptions withPositions(Positions value) {
        return new SteerOptions(op, value, preserveNorm, bank, createBias, exact);
    }

    public SteerOptions withPreserveNorm(boolean value) {
        return new SteerOptions(op, positions, value, bank, createBias, exact);
    }

    public SteerOptions withBank(boolean value) {
        return new SteerOptions(op, positions, preserveNorm, value, createBias, exact);
    }

    public SteerOptions withCreateBias(boolean value) {
        return new SteerOptions(op, positions, preserveNorm, bank, value, exact);
    }

    public SteerOptions withExact(boolean value) {
        return new SteerOptions(op, positions, preserveNorm, bank, createBias, value);
    }

    /** Plain add at every position without rescaling: the only case a bias can absorb. */
    public boolean isPlainAdd() {
        return op == SteerOp.ADD && positions.isAll() && !preserveNorm && !bank;
    }
}
