using System.CommandLine;
using Cairn.Format;
using Cairn.Repository;
using Cairn.Restore;

namespace Cairn.Cli.Commands;

internal static class RestoreCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var target = new Argument<string>("target") { Description = "Where to restore: must be absent or empty, unless --replace." };
        var replace = new Option<bool>("--replace") { Description = "Replace the target's current contents atomically once the restore is complete." };
        var reflinkFrom = new Option<string?>("--reflink-from")
        {
            Description = "Image snapshots: a directory holding an earlier restore of these images (any version); blocks they share are cloned from it, not written, where both are on one reflink file system (btrfs, xfs).",
        };
        var reflink = new Option<bool>("--reflink")
        {
            Description = "Image snapshots: clone the blocks shared with the nearest version kept in the local image cache, and keep this one there for the next restore, where the cache and the target are on one reflink file system (btrfs, xfs); elsewhere restore as usual, with a warning.",
        };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "With --reflink: root of the local caches (one directory per repository). Default: $XDG_CACHE_HOME/cairn, else ~/.cache/cairn." };
        var cacheVersions = new Option<int?>("--cache-versions")
        {
            Description = "With --reflink: how many image versions the repository's local image cache keeps, the least recently used evicted first (default 4). A version takes no space while the restore it was cloned from is unchanged.",
        };
        var command = new Command("restore", "Restore a snapshot into a directory (an image snapshot: its image files, sparse).") { snapshot, target, replace, reflinkFrom, reflink, cacheDir, cacheVersions };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var parse = context.ParseResult;
            if ((parse.GetValue(cacheDir) is not null || parse.GetValue(cacheVersions) is not null) && !parse.GetValue(reflink))
            {
                throw new UsageException("--cache-dir and --cache-versions need --reflink");
            }

            if (parse.GetValue(cacheVersions) is < 1)
            {
                throw new UsageException("--cache-versions must be at least 1");
            }

            using var progress = context.Quiet ? null : new TerminalProgress();
            var options = new RestoreOptions
            {
                Replace = parse.GetValue(replace),
                ReflinkFrom = parse.GetValue(reflinkFrom) is { } from ? Path.GetFullPath(from) : null,
                ReflinkCache = parse.GetValue(reflink) ? Path.GetFullPath(parse.GetValue(cacheDir) ?? LocalCache.DefaultRoot) : null,
                ReflinkCacheVersions = parse.GetValue(cacheVersions) ?? RestoreOptions.DefaultReflinkCacheVersions,
                Progress = progress is null ? null : new Progress<RestoreProgress>(p => progress.Show($"{Formatting.Bytes(p.Bytes)} of {Formatting.Bytes(p.TotalBytes)} restored")),
            };
            options.Validate(); // before the repository is opened: a usage error costs no request

            var opened = await context.OpenSnapshotAsync(parse.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            var targetPath = Path.GetFullPath(parse.GetValue(target)!);
            var result = await new Restorer(repository, options).RestoreAsync(record, targetPath, ct).ConfigureAwait(false);
            progress?.Clear();
            if (context.Json)
            {
                CliContext.WriteJson(
                    new RestoreOutput(record.Id.ToString(), targetPath, result.Entries, result.Bytes, result.BytesCloned, result.BytesDecompressed, result.ClonedFrom, result.Seconds, result.Warnings, RequestCounts.From(repository.Store.Statistics)),
                    CliJsonContext.Default.RestoreOutput);
            }
            else
            {
                foreach (var warning in result.Warnings)
                {
                    Console.Error.WriteLine($"cairn: warning: {warning}");
                }

                var cloned = result.BytesCloned > 0 ? $" (+ {Formatting.Bytes(result.BytesCloned)} cloned from {ContentId.Parse(result.ClonedFrom!).ToShortString()})" : "";
                Console.Out.WriteLine($"restored snapshot {record.Id.ToShortString()} to {targetPath}: {result.Entries:N0} entries, {Formatting.Bytes(result.Bytes)}{cloned} in {result.Seconds:0.00} s");
            }

            return 0;
        }));
        return command;
    }
}
