package dev.onnxsteer.cli;

import dev.onnxsteer.OnnxSteer;
import picocli.CommandLine.IVersionProvider;

final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"onnx-steer " + OnnxSteer.VERSION};
    }
}
