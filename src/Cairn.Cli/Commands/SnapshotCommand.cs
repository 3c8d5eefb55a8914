using System.CommandLine;
using Cairn.Snapshot;

namespace Cairn.Cli.Commands;

internal static class SnapshotCommand
{
    public static Command Create()
    {
        var path = new Argument<string?>("path") { Description = "The directory to snapshot (or use --image).", Arity = ArgumentArity.ZeroOrOne };
        var images = new Option<string[]>("--image", "-i")
        {
            Description = "Snapshot these VM image files instead of a directory (several at once, e.g. rootfs, memory, vmstate): held by base name, cut into fixed blocks; zero blocks and holes are not stored.",
            AllowMultipleArgumentsPerToken = true,
        };
        var tags = new Option<string[]>("--tag", "-t") { Description = $"Point this tag at the new snapshot (repeatable; {GlobalOptions.TagNames}).", AllowMultipleArgumentsPerToken = false };
        var parent = new Option<string?>("--parent", "-p")
        {
            Description = "The parent snapshot (id, prefix or tag); 'auto': the tag's snapshot, else the latest snapshot of the same path (images: of the same set of image paths); 'none'. Default: none for a directory, auto for images. Files unchanged since the parent are not read again.",
        };
        var skip = new Option<bool>("--skip-unreadable") { Description = "Leave out files and directories that cannot be read (listed at the end) instead of failing. Files removed while the snapshot runs are left out with a warning either way. Not for --image: an image that cannot be read is an error." };
        var relayout = new Option<bool>("--relayout")
        {
            Description = "Store every block again in fresh frames, as the first snapshot of an empty repository would, keeping the parent: restores of this snapshot no longer read its ancestors' frames. Reads every file; costs a full copy of the data. For a deep lineage whose restores 'cairn inspect' shows decompressing much more than they need.",
        };
        var relayoutAbove = new Option<double>("--relayout-above")
        {
            Description = $"Images: store an image again whole (as --relayout does) on its own once its parent version's restore decompresses more than PERCENT of its data in unused bytes a child would keep (blocks earlier versions replaced). Bounds what the depth of a lineage adds to its restores, at the price of a full copy of the image now and then; 'off': never. Default: {SnapshotOptions.DefaultRelayoutAbove * 100:0}.",
            HelpName = "PERCENT",
            CustomParser = ParsePercent,
        };
        var fromMount = new Option<string?>("--from-mount")
        {
            Description = "Snapshot a writable mount ('cairn mount --writable') from its changes alone: the parent is the mounted snapshot, and only what changed is read. The result is complete on its own; a mount of an image snapshot gives an image snapshot of the files at its top.",
        };
        var command = new Command("snapshot", "Snapshot a directory tree, VM image files, or the changes of a writable mount into the repository.") { path, images, tags, parent, skip, relayout, relayoutAbove, fromMount };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            // The archiver checks them too, but only once the repository is open: a default one would be created first.
            foreach (var tag in context.ParseResult.GetValue(tags) ?? [])
            {
                Repository.Repository.ValidateTagName(tag);
            }

            await using var repository = await context.OpenRepositoryAsync(ct, createDefault: true).ConfigureAwait(false);
            using var progress = context.Quiet ? null : new TerminalProgress();
            var directory = context.ParseResult.GetValue(path);
            var imageFiles = context.ParseResult.GetValue(images) ?? [];
            var mounted = context.ParseResult.GetValue(fromMount);
            if ((directory is not null ? 1 : 0) + (imageFiles.Length > 0 ? 1 : 0) + (mounted is not null ? 1 : 0) != 1)
            {
                throw new UsageException("give one of: a directory, --image FILE..., --from-mount MOUNTPOINT");
            }

            if (mounted is not null && context.ParseResult.GetValue(parent) is not null)
            {
                throw new UsageException("--from-mount takes the mounted snapshot as the parent; --parent does not apply");
            }

            var boundGiven = context.ParseResult.GetResult(relayoutAbove) is not null;
            if (directory is not null && boundGiven)
            {
                throw new UsageException(RelayoutAboveOnTree);
            }

            var options = new SnapshotOptions
            {
                Parent = context.ParseResult.GetValue(parent) ?? (imageFiles.Length > 0 ? SnapshotOptions.AutoParent : null),
                Tags = context.ParseResult.GetValue(tags) ?? [],
                SkipUnreadable = context.ParseResult.GetValue(skip),
                Relayout = context.ParseResult.GetValue(relayout),
                RelayoutAbove = context.ParseResult.GetResult(relayoutAbove) is null ? SnapshotOptions.DefaultRelayoutAbove
                    : context.ParseResult.GetValue(relayoutAbove) is var bound && double.IsPositiveInfinity(bound) ? null : bound,
                Progress = progress is null ? null : new Progress<SnapshotProgress>(p => progress.Show(
                    $"{p.Files:N0} files  {Formatting.Bytes(p.Bytes)} seen  {Formatting.Bytes(p.BytesRead)} read  {Formatting.Bytes(p.NewBytes)} new  {Formatting.Bytes(p.StoredBytes)} stored")),
            };
            var archiver = new Archiver(repository, options);
            var changes = mounted is null ? null : await FindChangesAsync(repository, context, mounted, ct).ConfigureAwait(false);
            if (changes is not null && boundGiven && changes.Base.Kind != Repository.SnapshotRecord.ImageKind)
            {
                throw new UsageException(RelayoutAboveOnTree);
            }

            var result = changes is not null ? await archiver.SnapshotOverlayAsync(changes, ct).ConfigureAwait(false)
                : imageFiles.Length > 0 ? await archiver.SnapshotImagesAsync(imageFiles, ct).ConfigureAwait(false)
                : await archiver.SnapshotAsync(directory!, ct).ConfigureAwait(false);
            progress?.Clear();
            var r = result.Snapshot;
            if (context.Json)
            {
                CliContext.WriteJson(
                    new SnapshotOutput(r.Id.ToString(), r.Kind, r.Tree, r.Parent, r.Time, r.Source, r.Paths, r.Tags, r.Stats, result.Skipped, result.Warnings, RequestCounts.From(repository.Store.Statistics), result.Relayouts, result.UncoveredBytes),
                    CliJsonContext.Default.SnapshotOutput);
            }
            else
            {
                foreach (var warning in result.Warnings)
                {
                    Console.Error.WriteLine($"cairn: warning: {warning}");
                }

                foreach (var skipped in result.Skipped)
                {
                    Console.Error.WriteLine($"cairn: skipped: {skipped}");
                }

                var s = r.Stats;
                Console.Out.WriteLine($"snapshot {r.Id} saved");
                if (r.Kind == Repository.SnapshotRecord.ImageKind)
                {
                    var since = r.Parent is null ? "no parent" : $"{s.UnchangedFiles:N0} of {s.Files:N0} unchanged since parent {Formatting.ShortId(r.Parent)}";
                    Console.Out.WriteLine($"  {s.Files:N0} image{(s.Files == 1 ? "" : "s")}, {Formatting.Bytes(s.Bytes)} ({since}); {Formatting.Bytes(result.UncoveredBytes)} of holes and zero blocks not stored");
                }
                else
                {
                    var since = r.Parent is null ? "no parent" : $"{s.UnchangedFiles:N0} files unchanged since parent {Formatting.ShortId(r.Parent)}";
                    Console.Out.WriteLine($"  {Formatting.Count(s.Files, "file")}, {s.Directories:N0} director{(s.Directories == 1 ? "y" : "ies")}, {Formatting.Bytes(s.Bytes)} ({since})");
                }

                Console.Out.WriteLine($"  {Formatting.Bytes(s.NewBytes)} new data{Formatting.StoredAgain(s)}, {Formatting.Bytes(s.StoredBytes)} stored, in {s.Seconds:0.00} s");
                foreach (var cause in result.Relayouts)
                {
                    Console.Out.WriteLine($"  {cause.Image} stored again whole: the parent's restore of it decompressed {Formatting.Bytes(cause.InheritedUnusedBytes)} of unused blocks a child would keep, {cause.Fraction * 100:0.0} % of its data, over the bound of {cause.Bound * 100:0.#} % (--relayout-above)");
                }
            }

            return 0;
        }));
        return command;
    }

    private const string RelayoutAboveOnTree = "--relayout-above applies to image snapshots (--image, or --from-mount of a mount of one); a tree is relaid out only when asked (--relayout)";

    /// <summary>Parses --relayout-above: a percentage (10, 10%, 2.5) as a fraction, or 'off' as infinity.</summary>
    private static double ParsePercent(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        if (text.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return double.PositiveInfinity;
        }

        if (double.TryParse(text.TrimEnd('%'), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var percent) && percent is >= 0 and <= 1000)
        {
            return percent / 100;
        }

        result.AddError($"--relayout-above takes a percentage from 0 to 1000, or 'off': '{text}'");
        return double.PositiveInfinity;
    }

    /// <summary>The writable mount at <paramref name="mountPoint"/>: its upper directory and base snapshot, which must be in this repository.</summary>
    private static async Task<OverlayChanges> FindChangesAsync(Repository.Repository repository, CliContext context, string mountPoint, CancellationToken ct)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new UsageException("writable mounts need Linux");
        }

        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        if (Cairn.Mount.OverlayLayer.Find(full) is not var (state, _))
        {
            throw new UsageException($"'{full}' is not a writable Cairn mount (cairn mount --writable)");
        }

        if (state.RepositoryId != repository.Config.Id)
        {
            throw new UsageException($"'{full}' is a mount of repository {state.Repository}, not of {context.RepositoryLocation}: use --repo {state.Repository}");
        }

        var baseSnapshot = await repository.ReadSnapshotAsync(Format.ContentId.Parse(state.Snapshot), ct).ConfigureAwait(false);
        return new OverlayChanges(state.Upper, state.Flavor, baseSnapshot, full);
    }
}
