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
        var gate = new Lock();
        return line =>
        {
            lock (gate)
            {
                File.AppendAllText(file, $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss.fff} {line}\n");
            }
        };
    }
}
