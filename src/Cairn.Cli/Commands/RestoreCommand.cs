using System.CommandLine;
using Cairn.Restore;

namespace Cairn.Cli.Commands;

internal static class RestoreCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = "The snapshot: id, unique id prefix, or tag." };
        var target = new Argument<string>("target") { Description = "Where to restore: must be absent or empty, unless --replace." };
        var replace = new Option<bool>("--replace") { Description = "Replace the target's current contents atomically once the restore is complete." };
        var command = new Command("restore", "Restore a snapshot into a directory.") { snapshot, target, replace };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            await using var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
            var record = await repository.ResolveAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            using var progress = context.Quiet ? null : new TerminalProgress();
            var options = new RestoreOptions
            {
                Replace = context.ParseResult.GetValue(replace),
                Progress = progress is null ? null : new Progress<RestoreProgress>(p => progress.Show($"{Formatting.Bytes(p.Bytes)} of {Formatting.Bytes(p.TotalBytes)} restored")),
            };
            var targetPath = Path.GetFullPath(context.ParseResult.GetValue(target)!);
            var result = await new Restorer(repository, options).RestoreAsync(record, targetPath, ct).ConfigureAwait(false);
            progress?.Clear();
            if (context.Json)
            {
                CliContext.WriteJson(
                    new RestoreOutput(record.Id.ToString(), targetPath, result.Entries, result.Bytes, result.Seconds, result.Warnings, RequestCounts.From(repository.Store.Statistics)),
                    CliJsonContext.Default.RestoreOutput);
            }
            else
            {
                foreach (var warning in result.Warnings)
                {
                    Console.Error.WriteLine($"cairn: warning: {warning}");
                }

                Console.Out.WriteLine($"restored snapshot {record.Id.ToShortString()} to {targetPath}: {result.Entries:N0} entries, {Formatting.Bytes(result.Bytes)} in {result.Seconds:0.00} s");
            }

            return 0;
        }));
        return command;
    }
}
