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
