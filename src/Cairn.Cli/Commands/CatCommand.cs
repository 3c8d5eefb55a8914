using System.CommandLine;
using System.Text;
using Cairn.Restore;

namespace Cairn.Cli.Commands;

internal static class CatCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var path = new Argument<string>("path") { Description = "The file's path inside the snapshot." };
        var command = new Command("cat", "Write one file of a snapshot to standard output (verified as it is read).") { snapshot, path };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var opened = await context.OpenSnapshotAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            var manifest = await repository.ReadManifestAsync(record, ct).ConfigureAwait(false);
            var name = context.ParseResult.GetValue(path)!;
            var entry = manifest.Resolve(Encoding.UTF8.GetBytes(name));
            if (entry < 0)
            {
                throw new UsageException($"no '{name}' in snapshot {record.Id.ToShortString()}");
            }

            await using var output = StandardOutput.Open();
            await FileReader.CopyToAsync(repository, manifest, entry, output, ct).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }
}
