using System.CommandLine;

namespace Cairn.Cli.Commands;

internal static class InitCommand
{
    public static Command Create()
    {
        var command = new Command("init", "Create a new, empty repository.");
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            await using var store = context.OpenStore();
            var repository = await Repository.Repository.InitAsync(store, cancellationToken: ct).ConfigureAwait(false);
            if (context.Json)
            {
                Console.Out.WriteLine($"{{\"repository\":{System.Text.Json.JsonSerializer.Serialize(store.Location)},\"id\":\"{repository.Config.Id}\"}}");
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
