using System.CommandLine;
using Cairn.Native.Linux;
using Cairn.Restore;

namespace Cairn.Cli.Commands;

internal static class CatCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var path = new Argument<string>("path") { Description = "The file's path inside the snapshot: its bytes as given, or as show prints it (\\xNN for a byte that is not UTF-8, \\\\ for a backslash)." };
        var command = new Command("cat", "Write one file of a snapshot to standard output (verified as it is read).") { snapshot, path };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var opened = await context.OpenSnapshotAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            var manifest = await repository.ReadManifestAsync(record, ct).ConfigureAwait(false);
            // The path as given, in bytes (a name need not be UTF-8); failing that, as show and diff print names.
            var given = context.ParseResult.GetValue(path)!;
            var name = RawArguments.BytesOf(given);
            var entry = manifest.Resolve(name);
            if (entry < 0 && given.Contains('\\', StringComparison.Ordinal) && PathBytes.TryParseDisplay(given, out var printed))
            {
                entry = manifest.Resolve(printed);
            }

            if (entry < 0)
            {
                throw new UsageException($"no '{PathBytes.Display(name)}' in snapshot {record.Id.ToShortString()}");
            }

            await using var output = StandardOutput.Open();
            await FileReader.CopyToAsync(repository, manifest, entry, output, ct).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }
}
