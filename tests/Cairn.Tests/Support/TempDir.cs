using System.Text;
using Cairn.Native.Linux;

namespace Cairn.Tests.Support;

/// <summary>
/// A fresh directory under the system temp directory, removed with everything in it on dispose. Removal goes through
/// <see cref="LinuxFile.RemoveTree"/>: generated trees hold names System.IO cannot spell and paths longer than PATH_MAX.
/// </summary>
internal sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "cairn-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    /// <summary>A path below this directory (not created).</summary>
    public string Sub(string relative) => System.IO.Path.Combine(Path, relative);

    /// <summary>Creates a directory below this one and returns its path.</summary>
    public string CreateSub(string relative) => Directory.CreateDirectory(Sub(relative)).FullName;

    public void Dispose() => Remove(Path);

    /// <summary>Removes a tree (or file) by path without following symlinks; nothing if absent.</summary>
    public static void Remove(string path)
    {
        using var parent = LinuxFile.OpenDirectory(System.IO.Path.GetDirectoryName(path)!);
        LinuxFile.RemoveTree(parent, Encoding.UTF8.GetBytes(System.IO.Path.GetFileName(path)));
    }
}
