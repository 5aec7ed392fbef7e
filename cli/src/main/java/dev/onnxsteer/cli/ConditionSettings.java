package dev.onnxsteer.cli;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Condition;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.sites.SiteNames;
import dev.onnxsteer.vectors.ConditionMetadata;
import dev.onnxsteer.vectors.SteeringVectors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * One condition's layers, threshold, comparator and aggregate: a flag when given, else the condition
 * file's metadata (its chosen setting from {@code sweep} or {@code extract --condition}, or the threshold
 * recorded for the one layer chosen), else the defaults (every layer of the file, 0, above, mean).
 * Each value remembers where it came from, for compile's output.
 *
 * @param threshold  {@code FILE:THRESHOLD}'s number, or null
 * @param layers     {@code --condition-layers}, or null
 * @param comparator {@code --condition-comparator}, or null
 * @param aggregate  {@code --condition-aggregate}, or null
 */
record ConditionSettings(Path file, Float threshold, String layers, String comparator, String aggregate) {

    /** The condition and, per value, where it came from. */
    record Resolved(Condition condition, List<String> sources) {
        /** The values grouped by where they came from: {@code "layers, threshold: FILE metadata (...)"}. */
        List<String> grouped() {
            Map<String, List<String>> by = new LinkedHashMap<>();
            for (String s : sources) {
                int space = s.indexOf(' ');
                by.computeIfAbsent(s.substring(space + 1), k -> new ArrayList<>()).add(s.substring(0, space));
            }
            List<String> out = new ArrayList<>();
            by.forEach((from, what) -> out.add(String.join(", ", what) + " from " + from));
            return out;
        }
    }

    Resolved resolve(SiteMap sites, SteeringVectors vectors) {
        Optional<ConditionMetadata.Choice> choice = ConditionMetadata.choice(vectors.metadata());
        String fromChoice = choice.map(c -> file + " metadata (chosen by " + c.chosenBy() + ")").orElse(null);
        List<String> sources = new ArrayList<>();
        SortedSet<Integer> chosenLayers;
        if (layers != null) {
            chosenLayers = LayerSelection.parse(layers, sites.layerCount());
            sources.add("layers --condition-layers");
        } else if (choice.isPresent()) {
            chosenLayers = new TreeSet<>(List.of(choice.get().layer()));
            sources.add("layers " + fromChoice);
        } else {
            chosenLayers = new TreeSet<>(vectors.layerIndices());
            sources.add("layers all of " + file);
        }
        // the threshold and comparator the file recorded for exactly these layers, if any
        Float recordedThreshold = null;
        String recordedComparator = null;
        String recordedFrom = null;
        if (choice.isPresent() && chosenLayers.equals(new TreeSet<>(List.of(choice.get().layer())))) {
            recordedThreshold = choice.get().threshold();
            recordedComparator = choice.get().comparator();
            recordedFrom = fromChoice;
        } else if (chosenLayers.size() == 1) {
            Optional<ConditionMetadata.LayerSetting> at = ConditionMetadata.at(vectors.metadata(), chosenLayers.first());
            if (at.isPresent()) {
                recordedThreshold = at.get().threshold();
                recordedComparator = at.get().comparator();
                recordedFrom = file + " metadata (layer " + chosenLayers.first() + ")";
            }
        }
        float t = threshold != null ? threshold : recordedThreshold != null ? recordedThreshold : 0f;
        sources.add("threshold " + (threshold != null ? "--condition FILE:THRESHOLD" : recordedThreshold != null
                ? recordedFrom : "default"));
        String c = comparator != null ? comparator : recordedComparator != null ? recordedComparator : "above";
        sources.add("comparator " + (comparator != null ? "--condition-comparator" : recordedComparator != null
                ? recordedFrom : "default"));
        String a = aggregate != null ? aggregate : choice.map(ConditionMetadata.Choice::aggregate).orElse("mean");
        sources.add("aggregate " + (aggregate != null ? "--condition-aggregate" : choice.isPresent() ? fromChoice
                : "default"));
        Condition condition = new Condition(SiteNames.parse(vectors.metadata().site()).kind(),
                directions(vectors, chosenLayers), t, Condition.Comparator.parse(c), Condition.Aggregate.parse(a));
        return new Resolved(condition, sources);
    }

    private Map<Integer, float[]> directions(SteeringVectors vectors, SortedSet<Integer> chosen) {
        Map<Integer, float[]> directions = new TreeMap<>();
        for (int layer : chosen) {
            if (vectors.hasLayer(layer)) {
                directions.put(layer, vectors.layer(layer));
            } else if (vectors.layerIndices().size() == 1) {
                directions.put(layer, vectors.layer(vectors.layerIndices().first()));
            } else {
                throw new BadVectorException((layers != null ? "--condition-layers " + layers : file + " metadata")
                        + " chooses layer " + layer + " but " + vectors.source() + " has layers " + vectors.layerIndices());
            }
        }
        return directions;
    }
}
