using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class TagCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("name") { Description = $"The tag to set ({GlobalOptions.TagNames}); omit to list all tags.", Arity = ArgumentArity.ZeroOrOne };
        var snapshot = new Argument<string?>("snapshot") { Description = $"The snapshot it should name: {GlobalOptions.SnapshotForms}.", Arity = ArgumentArity.ZeroOrOne };
        var delete = new Option<bool>("--delete", "-d") { Description = "Delete the tag NAME (the snapshot it names stays); also a tag an earlier version stored under a name no longer allowed." };
        var command = new Command("tag", "Point a tag at a snapshot, delete one, or list tags.") { name, snapshot, delete };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var tagName = context.ParseResult.GetValue(name);
            var deleting = context.ParseResult.GetValue(delete);
            if (deleting && (tagName is null || context.ParseResult.GetValue(snapshot) is not null))
            {
                throw new UsageException("--delete takes the tag's name alone: cairn tag --delete NAME");
            }

            if (tagName is not null && !deleting)
            {
                Repository.Repository.ValidateTagName(tagName); // before the repository is opened: a bad name is the answer whatever the snapshot
            }

            await using var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
            if (deleting)
            {
                var deleted = await repository.DeleteTagAsync(tagName!, ct).ConfigureAwait(false);
                if (context.Json)
                {
                    CliContext.WriteJson(new TagOutput(tagName!, deleted.Snapshot), CliJsonContext.Default.TagOutput);
                }
                else
                {
                    Console.Out.WriteLine($"deleted tag {tagName} (it named {deleted.Snapshot})");
                }

                return 0;
            }

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
