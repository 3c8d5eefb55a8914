namespace Cairn.Tests.Snapshot;

/// <summary>Theory data for a change made while a file is read: by each of the archiver's two ways of reading a file.</summary>
public static class ReadPaths
{
    /// <summary>
    /// File sizes and --skip-unreadable: a file read whole by a reader thread (without and with the flag, which must
    /// not matter for a file that is not unreadable), and a file streamed by the packer (over 1 MiB).
    /// </summary>
    public static TheoryData<int, bool> WholeAndStreamed => new()
    {
        { 512 << 10, false },
        { 512 << 10, true },
        { 4 << 20, false },
    };
}
