package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.generate.TokenListener;
import java.util.Map;
import java.util.TreeMap;

/** Collects each row's steering-condition decision during a generation, for {@code steering.condition_met}. */
final class ConditionsSeen implements TokenListener {
    private final Map<Integer, Boolean> met = new TreeMap<>();

    @Override
    public void onToken(int row, long tokenId, String textPiece) {
    }

    @Override
    public void onCondition(int row, boolean conditionMet) {
        met.put(row, conditionMet);
    }

    /** Adds {@code "steering": {"condition_met": ...}} to row {@code row}'s JSON when the model decided one. */
    void annotate(ObjectNode node, int row) {
        Boolean decided = met.get(row);
        if (decided != null) {
            node.putObject("steering").put("condition_met", decided);
        }
    }
}
