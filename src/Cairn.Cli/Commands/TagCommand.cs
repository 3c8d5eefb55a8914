using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class TagCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("name") { Description = $"The tag to set ({GlobalOptions.TagNames}); omit to list all tags.", Arity = ArgumentArity.ZeroOrOne };
        var snapshot = new Argument<string?>("snapshot") { Description = $"The snapshot it should name: {GlobalOptions.SnapshotForms}.", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("tag", "Point a tag at a snapshot, or list tags.") { name, snapshot };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var tagName = context.ParseResult.GetValue(name);
            if (tagName is not null)
            {
                Repository.Repository.ValidateTagName(tagName); // before the repository is opened: a bad name is the answer whatever the snapshot
            }

            await using var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
            if (tagName is null)
            {
                var tags = (await repository.ListTagsAsync(ct).ConfigureAwait(false)).Select(t => new TagOutput(t.Name, t.Tag.Snapshot)).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
                if (context.Json)
                {
                    CliContext.WriteJson(tags, CliJsonContext.Default.ListTagOutput);
                }
                else
                {
                    foreach (var t in tags)
                    {
                        Console.Out.WriteLine($"{t.Name}\t{t.Snapshot}");
                    }
                }

                return 0;
            }

            var reference = context.ParseResult.GetValue(snapshot) ?? throw new UsageException("give the snapshot the tag should name");
            var record = await repository.ResolveAsync(reference, ct).ConfigureAwait(false);
            await repository.SetTagAsync(tagName, record.Id, ct).ConfigureAwait(false);
            if (context.Json)
            {
                CliContext.WriteJson(new TagOutput(tagName, record.Id.ToString()), CliJsonContext.Default.TagOutput);
            }
            else
            {
                Console.Out.WriteLine($"{tagName} -> {record.Id}");
            }

            return 0;
        }));
        return command;
    }
}
