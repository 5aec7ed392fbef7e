package dev.onnxsteer.ir;

/** One place a value is read: input {@code index} of {@code node}. */
public record Use(Node node, int index) {}
