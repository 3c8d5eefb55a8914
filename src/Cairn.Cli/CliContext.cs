using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using Cairn.Storage;
using Cairn.Storage.S3;

namespace Cairn.Cli;

/// <summary>
/// What a command needs from the command line: the repository it names, whether to print JSON, and one place that
/// turns failures into one clear line (or a JSON error object) and an exit code.
/// </summary>
internal sealed class CliContext
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitInternal = 70;

    private CliContext(ParseResult parseResult)
    {
        ParseResult = parseResult;
        Json = parseResult.GetValue(GlobalOptions.Json);
        Quiet = parseResult.GetValue(GlobalOptions.Quiet) || Json || Console.IsErrorRedirected;
        var explicitRepo = parseResult.GetValue(GlobalOptions.Repository) ?? Environment.GetEnvironmentVariable("CAIRN_REPO");
        RepositoryLocation = string.IsNullOrEmpty(explicitRepo) ? DefaultRepository : explicitRepo;
        IsDefaultRepository = string.IsNullOrEmpty(explicitRepo);
    }

    public ParseResult ParseResult { get; }

    public bool Json { get; }

    /// <summary>No progress display: asked for, or JSON output, or standard error is not a terminal.</summary>
    public bool Quiet { get; }

    public string RepositoryLocation { get; }

    public bool IsDefaultRepository { get; }

    public static string DefaultRepository
    {
        get
        {
            var data = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
            if (string.IsNullOrEmpty(data))
            {
                data = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
            }

            return Path.Combine(data, "cairn", "repo");
        }
    }

    public IObjectStore OpenStore() => StoreFactory.Open(RepositoryLocation, ReadS3Settings());

    /// <summary>How to reach an S3 repository, from the <c>--s3-*</c> options (ignored for a local one).</summary>
    private S3Settings ReadS3Settings()
    {
        var endpoint = ParseResult.GetValue(GlobalOptions.S3Endpoint);
        return new S3Settings(
            string.IsNullOrWhiteSpace(endpoint) ? null : S3StoreOptions.ParseEndpoint(endpoint, "--s3-endpoint"),
            ParseResult.GetValue(GlobalOptions.S3PathStyle),
            !ParseResult.GetValue(GlobalOptions.S3NoVerifyConditionalWrites));
    }

    /// <summary>Opens the repository; the default local one is created on first use.</summary>
    public async Task<Repository.Repository> OpenRepositoryAsync(CancellationToken cancellationToken, bool createDefault = false)
    {
        var store = OpenStore();
        try
        {
            if (createDefault && IsDefaultRepository && await store.TryGetSizeAsync(Cairn.Repository.ObjectKeys.Config, cancellationToken).ConfigureAwait(false) is null)
            {
                return await Cairn.Repository.Repository.InitAsync(store, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            return await Cairn.Repository.Repository.OpenAsync(store, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Opens the repository and finds the snapshot <paramref name="reference"/> names in it, the reads of both at once.</summary>
    public async Task<(Repository.Repository Repository, Repository.SnapshotRecord Snapshot)> OpenSnapshotAsync(string reference, CancellationToken cancellationToken)
    {
        var store = OpenStore();
        try
        {
            return await Cairn.Repository.Repository.OpenAsync(store, reference, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs a command body with the shared error handling.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Run(Func<CliContext, CancellationToken, Task<int>> body) =>
        async (parseResult, cancellationToken) =>
        {
            var context = new CliContext(parseResult);
            try
            {
                return await body(context, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return context.Fail("cancelled", "cancelled", ExitFailure);
            }
            catch (UsageException e)
            {
                return context.Fail(e.Code, e.Message, ExitUsage);
            }
            catch (StandardOutputException e)
            {
                return context.Fail(e.Code, e.Message, ExitFailure, standardOutputFailed: true);
            }
            catch (CairnException e)
            {
                return context.Fail(e.Code, e.Message, ExitFailure);
            }
            catch (IOException e)
            {
                return context.Fail("io", e.Message, ExitFailure);
            }
            catch (UnauthorizedAccessException e)
            {
                return context.Fail("permission", e.Message, ExitFailure);
            }
#pragma warning disable CA1031 // The last line of defence: a bug still gets one line and an exit code, not a stack trace.
            catch (Exception e)
#pragma warning restore CA1031
            {
                if (Environment.GetEnvironmentVariable("CAIRN_DEBUG") is "1")
                {
                    Console.Error.WriteLine(e);
                }

                return context.Fail("internal", $"internal error: {e.GetType().Name}: {e.Message}", ExitInternal);
            }
        };

    /// <summary>
    /// A command line that does not parse: its errors, one per line, and where to read how the command is used, on
    /// standard error (with <c>--json</c>, one error object on standard output, as any other error). The parser's own
    /// handling printed the whole help text on standard output, where a script reads results.
    /// </summary>
    public static int ParseFailed(ParseResult parsed)
    {
        // With --help the parser reports no error for a word it does not know (`cairn check --help` printed the
        // main help and exited 0): such words are errors here too.
        // An unknown word where a command goes is the whole story: not also "required command was not provided".
        var unknownCommand = parsed.CommandResult.Command is RootCommand && parsed.UnmatchedTokens.Count > 0;
        var messages = (unknownCommand ? [] : parsed.Errors.Select(e => e.Message))
            .Concat(parsed.UnmatchedTokens.Select(t => $"Unrecognized command or argument '{t}'."))
            .Concat(EmptyValues(parsed.Tokens))
            .Distinct().ToList();
        bool json;
        try
        {
            json = parsed.GetValue(GlobalOptions.Json);
        }
        catch (InvalidOperationException)
        {
            json = false; // --json itself did not parse
        }

        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new CliError(new CliErrorBody("usage", string.Join("; ", messages))), CliJsonContext.Default.CliError));
            return ExitUsage;
        }

        foreach (var message in messages)
        {
            Console.Error.WriteLine($"cairn: {message}");
        }

        var path = new List<string>();
        for (SymbolResult? result = parsed.CommandResult; result is CommandResult command; result = command.Parent)
        {
            path.Insert(0, command.Command.Name);
        }

        path[0] = "cairn";
        Console.Error.WriteLine($"Try '{string.Join(' ', path)} --help'.");
        return ExitUsage;
    }

    /// <summary>
    /// An empty word on the command line (`restore vm ''`, `-r ''`) is never a path or a value Cairn can use: said as
    /// bad usage, naming the option it was given to. It reached .NET's path functions and came out as an internal
    /// error, or (`-r ''`) silently meant the default repository.
    /// </summary>
    private static IEnumerable<string> EmptyValues(IReadOnlyList<Token> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Value.Length == 0)
            {
                yield return i > 0 && tokens[i - 1].Type == TokenType.Option ? $"{tokens[i - 1].Value} is given an empty value." : "An argument is empty.";
            }
        }
    }

    public static void WriteJson<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(value, typeInfo));
    }

    /// <summary>Says what failed: on standard output as JSON with --json, unless standard output is what cannot be written, as on standard error otherwise.</summary>
    private int Fail(string code, string message, int exitCode, bool standardOutputFailed = false)
    {
        if (Json && !standardOutputFailed)
        {
            try
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new CliError(new CliErrorBody(code, message)), CliJsonContext.Default.CliError));
                return exitCode;
            }
            catch (StandardOutputException)
            {
                // Standard output fails too: the error still gets said, where it can be.
            }
        }

        Console.Error.WriteLine($"cairn: {message}");
        return exitCode;
    }
}
