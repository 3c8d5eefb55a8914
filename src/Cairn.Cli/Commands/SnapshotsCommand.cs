using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class SnapshotsCommand
{
    public static Command Create()
    {
        var command = new Command("snapshots", "List the snapshots in the repository, oldest first.");
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            await using var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
            var snapshots = await repository.ListSnapshotsAsync(ct).ConfigureAwait(false);
            if (context.Json)
            {
                CliContext.WriteJson(snapshots.Select(Formatting.Item).ToList(), CliJsonContext.Default.ListSnapshotListItem);
                return 0;
            }

            var tags = (await repository.ListTagsAsync(ct).ConfigureAwait(false)).ToLookup(t => t.Tag.Snapshot, t => t.Name);
            Console.Out.WriteLine($"{"ID",-12}  {"TIME",-19}  {"KIND",-5}  {"PARENT",-12}  {"FILES",9}  {"SIZE",10}  {"TAGS",-16}  SOURCE");
            foreach (var s in snapshots)
            {
                var tagList = string.Join(',', tags[s.Id.ToString()]);
                Console.Out.WriteLine($"{s.Id.ToShortString(),-12}  {s.Time.ToLocalTime():yyyy-MM-dd HH:mm:ss}  {s.Kind,-5}  {Formatting.ShortId(s.Parent),-12}  {s.Stats.Files,9:N0}  {Formatting.Bytes(s.Stats.Bytes),10}  {tagList,-16}  {s.Source}");
            }

            Console.Out.WriteLine($"{snapshots.Count} snapshot(s)");
            return 0;
        }));
        return command;
    }
}
