using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class InitCommand
{
    public static Command Create()
    {
        var blockSize = new Option<string?>("--image-block-size")
        {
            Description = "Block size of image snapshots: a power of two from 4K to 1M (default 4K, see docs/format.md). Fixed for the repository's life.",
        };
        var command = new Command("init", "Create a new, empty repository.") { blockSize };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            var config = new Repository.RepositoryConfig();
            if (context.ParseResult.GetValue(blockSize) is { } size)
            {
                var bytes = Formatting.ParseBytes(size, "--image-block-size");
                config = config with
                {
                    ImageBlockSize = bytes is > 0 and <= int.MaxValue && Chunking.FixedBlockChunker.IsValidBlockSize((int)bytes)
                        ? (int)bytes
                        : throw new UsageException($"--image-block-size {size}: need a power of two from {Formatting.Bytes(Chunking.FixedBlockChunker.MinBlockSize)} to {Formatting.Bytes(Chunking.FixedBlockChunker.MaxBlockSize)}"),
                };
            }

            await using var store = context.OpenStore();
            var repository = await Repository.Repository.InitAsync(store, config, ct).ConfigureAwait(false);
            if (context.Json)
            {
                CliContext.WriteJson(new InitOutput(store.Location, repository.Config.Id), CliJsonContext.Default.InitOutput);
            }
            else
            {
                Console.Out.WriteLine($"created repository {repository.Config.Id} at {store.Location}");
            }

            return 0;
        }));
        return command;
    }
}
