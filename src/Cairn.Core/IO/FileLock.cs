namespace Cairn.IO;

/// <summary>An exclusive lock between processes and threads: a lock file held open with <see cref="FileShare.None"/>, which .NET takes as a non-blocking <c>flock(2)</c>.</summary>
public static class FileLock
{
    /// <summary>
    /// Opens (creating it if needed) and locks <paramref name="path"/>, retrying every <paramref name="delay"/> while
    /// another holder has it, <paramref name="attempts"/> times at most; disposing the stream releases the lock.
    /// </summary>
    public static FileStream Acquire(string path, int attempts, TimeSpan delay)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                // No buffering: the holders that keep state in the file read and write it directly.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (attempt < attempts)
            {
                Thread.Sleep(delay);
            }
        }
    }
}
