using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class ForkCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot the new line starts from: {GlobalOptions.SnapshotForms}." };
        var tag = new Option<string>("--tag", "-t") { Description = $"The name of the new line: a tag that must not exist yet ({GlobalOptions.TagNames}).", Required = true };
        var force = new Option<bool>("--force") { Description = "Move the tag if it exists." };
        var command = new Command("fork", "Start a new line from any snapshot: a tag naming it, so 'snapshot --tag NAME' (parent auto) continues from there.") { snapshot, tag, force };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var name = context.ParseResult.GetValue(tag)!;
            Repository.Repository.ValidateTagName(name); // before the repository is opened: a bad name is the answer whatever the snapshot
            var opened = await context.OpenSnapshotAsync(context.ParseResult.GetValue(snapshot)!, ct).ConfigureAwait(false);
            await using var repository = opened.Repository;
            var record = opened.Snapshot;
            if (!await repository.TryCreateTagAsync(name, record.Id, ct).ConfigureAwait(false))
            {
                if (!context.ParseResult.GetValue(force))
                {
                    var existing = await repository.TryReadTagAsync(name, ct).ConfigureAwait(false);
                    throw new UsageException($"the tag '{name}' already exists (it names {Formatting.ShortId(existing?.Snapshot)}): use --force to move it");
                }

                await repository.SetTagAsync(name, record.Id, ct).ConfigureAwait(false);
            }

            if (context.Json)
            {
                CliContext.WriteJson(new TagOutput(name, record.Id.ToString()), CliJsonContext.Default.TagOutput);
            }
            else
            {
                Console.Out.WriteLine($"{name} -> {record.Id}");
            }

            return 0;
        }));
        return command;
    }
}
