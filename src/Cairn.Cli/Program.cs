using System.CommandLine;
using System.Runtime.InteropServices;
using Cairn.Cli;
using Cairn.Cli.Commands;
using Cairn.Diagnostics;

PhaseTrace.MarkMain();
StandardOutput.Install();
WarmUp.Start(args);

var root = new RootCommand("Cairn: immutable, deduplicated, compressed snapshots of directory trees and VM images, restored at disk speed or mounted lazily.")
{
    GlobalOptions.Repository,
    GlobalOptions.Json,
    GlobalOptions.Quiet,
    GlobalOptions.S3Endpoint,
    GlobalOptions.S3PathStyle,
    GlobalOptions.S3NoVerifyConditionalWrites,
    InitCommand.Create(),
    SnapshotCommand.Create(),
    RestoreCommand.Create(),
    SnapshotsCommand.Create(),
    ShowCommand.Create(),
    DiffCommand.Create(),
    CatCommand.Create(),
    TagCommand.Create(),
    LogCommand.Create(),
    ForkCommand.Create(),
    InspectCommand.Create(),
    MountCommand.Create(),
    UmountCommand.Create(),
};

var parsed = root.Parse(args);

// System.CommandLine cancels the command on SIGINT or SIGTERM and exits 130 or 143 without a word: say what happened
// and what is left. Not for mount, whose own handlers unmount and exit cleanly (MountCommand).
using var sigint = parsed.CommandResult.Command.Name == "mount" ? null : PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupted);
using var sigterm = parsed.CommandResult.Command.Name == "mount" ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupted);
var exitCode = (parsed.Errors.Count > 0 || parsed.UnmatchedTokens.Count > 0 || args.Contains("")) && args.Length > 0
    ? CliContext.ParseFailed(parsed) // bad usage, as the README says: exit 2, and no help text on standard output
    : await parsed.InvokeAsync().ConfigureAwait(false);
if (parsed.Errors.Count > 0 && exitCode == 1)
{
    exitCode = CliContext.ExitUsage; // a bare `cairn`: the parser's help, and bad usage
}

WarmUp.Finish();
return exitCode;

static void Interrupted(PosixSignalContext signal) =>
    Console.Error.WriteLine($"cairn: interrupted ({signal.Signal}): a snapshot that did not finish is not recorded (run again, it reuses the packs it stored), and a restore that did not finish left its target as it was");
