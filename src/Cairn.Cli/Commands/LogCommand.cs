using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class LogCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var command = new Command("log", "Show a snapshot's lineage: it, its parent, and so on up to the root.") { snapshot };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var opened = await context.OpenSnapshotAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            var (chain, missing) = await repository.ReadLineageAsync(record, ct).ConfigureAwait(false);
            var tags = (await repository.ListTagsAsync(ct).ConfigureAwait(false)).ToLookup(t => t.Tag.Snapshot, t => t.Name);
            var items = chain.Select((r, depth) => new LogItem(
                r.Id.ToString(), r.Parent, chain.Count - 1 - depth, r.Time, r.Kind, [.. tags[r.Id.ToString()].Order(StringComparer.Ordinal)], r.Source, r.Stats.Bytes, r.Stats.NewBytes, r.Stats.StoredBytes)).ToList();
            if (context.Json)
            {
                CliContext.WriteJson(new LogOutput(items, missing), CliJsonContext.Default.LogOutput);
                return 0;
            }

            Console.Out.WriteLine($"{"ID",-12}  {"TIME",-19}  {"KIND",-5}  {"SIZE",10}  {"NEW",10}  {"STORED",10}  TAGS");
            foreach (var i in items)
            {
                Console.Out.WriteLine($"{i.Id[..12],-12}  {i.Time.ToLocalTime():yyyy-MM-dd HH:mm:ss}  {i.Kind,-5}  {Formatting.Bytes(i.Bytes),10}  {Formatting.Bytes(i.NewBytes),10}  {Formatting.Bytes(i.StoredBytes),10}  {string.Join(',', i.Tags)}");
            }

            Console.Out.WriteLine(missing is null
                ? $"{items.Count} snapshot(s) from the root"
                : $"{items.Count} snapshot(s); the parent {missing[..12]} of the last one is no longer in the repository");
            return 0;
        }));
        return command;
    }
}
