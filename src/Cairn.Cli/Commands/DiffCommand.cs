using System.CommandLine;
using Cairn.Manifests;

namespace Cairn.Cli.Commands;

internal static class DiffCommand
{
    public static Command Create()
    {
        var a = new Argument<string>("from") { Description = "The older snapshot." };
        var b = new Argument<string>("to") { Description = "The newer snapshot." };
        var command = new Command("diff", "List the paths added (+), removed (-) and modified (M) between two snapshots; a modified file with the bytes of its blocks or chunks that changed.") { a, b };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            await using var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
            var ra = await repository.ResolveAsync(context.ParseResult.GetValue(a)!, ct).ConfigureAwait(false);
            var rb = await repository.ResolveAsync(context.ParseResult.GetValue(b)!, ct).ConfigureAwait(false);
            var changes = ManifestDiff.Compare(
                await repository.ReadManifestAsync(ra, ct).ConfigureAwait(false),
                await repository.ReadManifestAsync(rb, ct).ConfigureAwait(false),
                alignedBlocks: ra.Kind == Repository.SnapshotRecord.ImageKind && rb.Kind == Repository.SnapshotRecord.ImageKind);
            if (context.Json)
            {
                CliContext.WriteJson(changes.Select(c => new DiffItem(c.Kind.ToString().ToLowerInvariant(), Manifest.Display(c.Path), c.ChangedBytes)).ToList(), CliJsonContext.Default.ListDiffItem);
                return 0;
            }

            foreach (var change in changes)
            {
                var mark = change.Kind switch { ChangeKind.Added => '+', ChangeKind.Removed => '-', _ => 'M' };
                var changed = change.ChangedBytes switch
                {
                    0 => "  (same data: metadata or holes changed)",
                    { } bytes => $"  ({Formatting.Bytes(bytes)} changed)",
                    null => "",
                };
                Console.Out.WriteLine($"{mark} {Manifest.Display(change.Path)}{changed}");
            }

            Console.Error.WriteLine($"{changes.Count(c => c.Kind == ChangeKind.Added)} added, {changes.Count(c => c.Kind == ChangeKind.Removed)} removed, {changes.Count(c => c.Kind == ChangeKind.Modified)} modified");
            return 0;
        }));
        return command;
    }
}
