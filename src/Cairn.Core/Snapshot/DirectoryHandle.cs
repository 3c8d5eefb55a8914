using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>
/// An open directory shared by the walker and the file readers. Reference-counted so the descriptor closes as soon
/// as the last file in it has been read, keeping the number of open descriptors near the walk's frontier.
/// </summary>
internal sealed class DirectoryHandle
{
    private int _references = 1;

    public DirectoryHandle(FileDescriptor descriptor, byte[] path)
    {
        Descriptor = descriptor;
        Path = path;
    }

    public FileDescriptor Descriptor { get; }

    /// <summary>Path relative to the snapshot root, for messages.</summary>
    public byte[] Path { get; }

    /// <summary>Its listing, once one was asked for (by the walk, or by <see cref="TreeWalker"/> ahead of it); under the walker's lock.</summary>
    internal Task<List<ChildInfo>>? Listing { get; set; }

    /// <summary>Listed ahead of the walk, which has not asked for it yet; under the walker's lock.</summary>
    internal bool Ahead { get; set; }

    /// <summary>
    /// It could not be listed (removed since its parent was, or skipped as unreadable): not in the snapshot. Set by
    /// the lister before its listing completes.
    /// </summary>
    internal bool LeftOut { get; set; }

    public void AddReference() => Interlocked.Increment(ref _references);

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Descriptor.Dispose();
        }
    }

    public byte[] PathOf(ReadOnlySpan<byte> name) => Path.Length == 0 ? name.ToArray() : [.. Path, (byte)'/', .. name];
}
