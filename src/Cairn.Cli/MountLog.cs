namespace Cairn.Cli;

/// <summary>Where a mount's log lines go: a file (appended, one line each, time-stamped), else standard error.</summary>
internal static class MountLog
{
    public static Action<string> Create(string? path, bool detached)
    {
        if (path is null)
        {
            // A detached daemon has no terminal; its standard error is a pipe nobody reads once it has started.
            return detached ? static _ => { } : static line => Console.Error.WriteLine(line);
        }

        var file = Path.GetFullPath(path);
        try
        {
            // Now, while the user is there to read why: a mount that could not log would otherwise run in silence.
            using var probe = new FileStream(file, FileMode.Append, FileAccess.Write);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot write the log file '{file}': {e.Message}");
        }

        var gate = new Lock();
        return line =>
        {
            lock (gate)
            {
                try
                {
                    File.AppendAllText(file, $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss.fff} {line}\n");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // A full disk or a log file taken away must not fail the request that had something to say.
                }
            }
        };
    }
}
