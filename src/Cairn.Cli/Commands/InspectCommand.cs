using System.CommandLine;
using Cairn.Inspection;
using Cairn.Repository;

namespace Cairn.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var command = new Command("inspect", "Show what a snapshot is made of: per image (a tree: all files together), blocks new since the parent, inherited, zero or holes; frames, packs and stored bytes.") { snapshot };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var opened = await context.OpenSnapshotAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            var inspection = await SnapshotInspection.InspectAsync(repository, record, ct).ConfigureAwait(false);
            if (context.Json)
            {
                CliContext.WriteJson(
                    new InspectOutput(record.Id.ToString(), record.Kind, record.Parent, inspection.Parent is not null, inspection.SameTreeAsParent, inspection.ManifestBytes, inspection.Chunks, inspection.Frames, inspection.Packs, inspection.Files),
                    CliJsonContext.Default.InspectOutput);
                return 0;
            }

            var output = Console.Out;
            var parent = record.Parent is null ? "no parent" : inspection.Parent is null ? $"parent {record.Parent[..12]} (gone: every block counts as new)" : $"parent {record.Parent[..12]}";
            output.WriteLine($"snapshot {record.Id.ToShortString()}  {record.Kind}  {parent}");
            output.WriteLine($"  manifest  {Formatting.Bytes(inspection.ManifestBytes)}: {Formatting.Count(inspection.Chunks, "chunk")} in {Formatting.Count(inspection.Frames, "frame")} of {Formatting.Count(inspection.Packs, "pack")} (complete: restore reads no other manifest)");
            if (inspection.SameTreeAsParent)
            {
                var why = record.Stats.Relayout switch
                {
                    SnapshotStats.RelayoutRequested => " (--relayout)",
                    SnapshotStats.RelayoutBound => " (past --relayout-above)",
                    _ => "",
                };
                var again = record.Stats.RewrittenBytes is > 0 and var r ? $"; this snapshot stored {Formatting.Bytes(r)} of them again{why}" : "";
                output.WriteLine($"  same tree as the parent: one manifest, one layout for both, so every block counts as inherited{again}");
            }
            foreach (var f in inspection.Files)
            {
                output.WriteLine();
                output.WriteLine($"{f.Path}  {Formatting.Bytes(f.Size)}");
                var holes = f.HoleBlocks is { } h ? $"; {h:N0} zero or hole blocks not stored" : $"; {Formatting.Bytes(f.HoleBytes)} in holes";
                output.WriteLine($"  blocks    {f.Blocks:N0}: {f.NewBlocks:N0} new, {f.InheritedBlocks:N0} inherited from the parent{holes}");
                output.WriteLine($"  new data  {Formatting.Bytes(f.NewBytes)}, {Formatting.Bytes(f.NewStoredBytes)} stored compressed, in {Formatting.Count(f.NewFrames, "frame")} of {Formatting.Count(f.NewPacks, "pack")}");
                if (f.MovedBlocks > 0)
                {
                    output.WriteLine($"  moved     {f.MovedBlocks:N0} inherited blocks stored again, out of frames or segments the parent mostly no longer used: {Formatting.Bytes(f.MovedBytes)}, {Formatting.Bytes(f.MovedStoredBytes)} compressed");
                }

                var beyond = f.DistinctBytes > 0 ? $" (+{100.0 * (f.DecodedBytes - f.DistinctBytes) / f.DistinctBytes:0.0} %)" : "";
                output.WriteLine($"  reads     {Formatting.Count(f.Frames, "frame")} of {Formatting.Count(f.Packs, "pack")}: {Formatting.Bytes(f.DecodedBytes)} decompressed for {Formatting.Bytes(f.DistinctBytes)} of distinct blocks{beyond}; {Formatting.Bytes(f.DataBytes)} of data");
            }

            return 0;
        }));
        return command;
    }
}
