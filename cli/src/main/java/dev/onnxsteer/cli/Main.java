package dev.onnxsteer.cli;

import dev.onnxsteer.BadInputException;
import dev.onnxsteer.SiteNotFoundException;
import dev.onnxsteer.SteerException;
import dev.onnxsteer.io.FileProblem;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point: `onnx-steer <command>`. Every command is a subcommand class in this package. */
@Command(
        name = "onnx-steer",
        mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "Activation-steering compiler for ONNX language models.",
        subcommands = {ImportCommand.class, InspectCommand.class, CompileCommand.class, GenerateCommand.class,
                ParityCommand.class, ExtractCommand.class, SweepCommand.class, ServeCommand.class,
                ExportTritonCommand.class})
public final class Main {
    public static final int OK = 0;
    public static final int FAILURE = 1;
    public static final int USAGE = 2;
    public static final int BAD_INPUT = 3;

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs one command line with the given streams and returns its exit code; never exits. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler(Main::handle);
        cli.setExitCodeExceptionMapper(Main::exitCode);
        // one line and a pointer to the help, like every other refusal; the full help is one --help away
        cli.setParameterExceptionHandler((ex, argv) -> {
            err.println("error: " + ex.getMessage().replace('\n', ' ') + "; try '"
                    + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'");
            err.flush();
            return USAGE;
        });
        return cli.execute(args);
    }

    private static int handle(Exception ex, CommandLine cmd, CommandLine.ParseResult parsed) {
        PrintWriter err = cmd.getErr();
        boolean verbose = parsed.subcommands().stream().anyMatch(p -> p.hasMatchedOption("--verbose"))
                || parsed.hasMatchedOption("--verbose");
        err.println("error: " + oneLine(ex));
        if (verbose) {
            ex.printStackTrace(err);
        }
        err.flush();
        return exitCode(ex);
    }

    static int exitCode(Throwable ex) {
        if (ex instanceof BadInputException) {
            return BAD_INPUT;
        }
        if (ex instanceof SiteNotFoundException || ex instanceof IllegalArgumentException
                || ex instanceof CommandLine.ParameterException) {
            return USAGE;
        }
        return FAILURE;
    }

    private static String oneLine(Throwable ex) {
        String message = ex.getMessage();
        if (message == null || message.isBlank()) {
            message = ex.getClass().getSimpleName();
        }
        if (!(ex instanceof SteerException) && ex.getCause() != null && ex.getCause().getMessage() != null
                && !message.contains(ex.getCause().getMessage())) {
            message += ": " + ex.getCause().getMessage();
        }
        // one printable line, however a corrupted file's bytes reached the message
        return FileProblem.printable(message.replace('\n', ' '), FileProblem.MAX_MESSAGE_CHARS);
    }
}
