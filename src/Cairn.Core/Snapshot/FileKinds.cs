using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>What a message calls a kind of file.</summary>
internal static class FileKinds
{
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Directory => "a directory",
        FileKind.Symlink => "a symbolic link",
        FileKind.Fifo => "a FIFO",
        FileKind.CharDevice or FileKind.BlockDevice => "a device",
        FileKind.Socket => "a socket",
        _ => "not a regular file",
    };
}
