using System.CommandLine;
using Cairn.Manifests;

namespace Cairn.Cli.Commands;

internal static class ShowCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var command = new Command("show", "Show a snapshot: its record, statistics and the tree it holds.") { snapshot };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var opened = await context.OpenSnapshotAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            var m = await repository.ReadManifestAsync(record, ct).ConfigureAwait(false);
            // A hard link is listed with the metadata of the file it names, which are its own (docs/format.md): its
            // entry records a size of 0, which read as an empty file.
            if (context.Json)
            {
                var entries = new List<EntryOutput>(m.Count);
                for (var i = 0; i < m.Count; i++)
                {
                    var e = m.Entries[i];
                    var file = m.Entries[m.Canonical(i)];
                    entries.Add(new EntryOutput(
                        m.DisplayPath(i), Formatting.KindName(e.Kind), Convert.ToString(file.Mode, 8), file.Uid, file.Gid, file.Size, Formatting.Time(file.MTimeNs),
                        e.Kind == EntryKind.Symlink ? Manifest.Display(m.SymlinkTarget(i)) : e.Kind == EntryKind.Hardlink ? m.DisplayPath((int)e.First) : null));
                }

                CliContext.WriteJson(new ShowOutput(Formatting.Item(record), m.Chunks.Length, m.Frames.Length, m.Packs.Length, entries), CliJsonContext.Default.ShowOutput);
                return 0;
            }

            var s = record.Stats;
            var output = Console.Out;
            output.WriteLine($"snapshot {record.Id}");
            output.WriteLine($"  tree     {record.Tree}");
            output.WriteLine($"  parent   {record.Parent ?? "-"}");
            output.WriteLine($"  time     {record.Time.ToLocalTime():yyyy-MM-dd HH:mm:ss zzz}");
            output.WriteLine($"  source   {record.Host}:{record.Source}");
            output.WriteLine($"  tags     {(record.Tags.Count == 0 ? "-" : string.Join(", ", record.Tags))}");
            output.WriteLine($"  content  {Formatting.Count(s.Files, "file")}, {s.Directories:N0} director{(s.Directories == 1 ? "y" : "ies")}, {Formatting.Count(s.Symlinks, "symlink")}, {Formatting.Bytes(s.Bytes)}");
            output.WriteLine($"  storage  {Formatting.Count(m.Chunks.Length, "chunk")} in {Formatting.Count(m.Frames.Length, "frame")} of {Formatting.Count(m.Packs.Length, "pack")}; this run added {Formatting.Bytes(s.NewBytes)}{Formatting.StoredAgain(s)} ({Formatting.Bytes(s.StoredBytes)} stored)");
            output.WriteLine();
            for (var i = 1; i < m.Count; i++)
            {
                var e = m.Entries[i];
                var file = m.Entries[m.Canonical(i)];
                var suffix = e.Kind switch
                {
                    EntryKind.Symlink => " -> " + Manifest.Display(m.SymlinkTarget(i)),
                    EntryKind.Hardlink => " => " + m.DisplayPath((int)e.First),
                    EntryKind.Directory => "/",
                    _ => "",
                };
                output.WriteLine($"{Formatting.Mode(file.Kind, file.Mode)} {file.Uid,5} {file.Gid,5} {file.Size,12} {Formatting.Time(file.MTimeNs).ToLocalTime():yyyy-MM-dd HH:mm} {m.DisplayPath(i)}{suffix}");
            }

            return 0;
        }));
        return command;
    }
}
