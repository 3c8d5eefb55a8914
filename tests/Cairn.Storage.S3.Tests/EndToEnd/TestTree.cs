using System.Diagnostics;
using System.Text;
using Cairn.Native.Linux;

namespace Cairn.Storage.S3.Tests.EndToEnd;

/// <summary>
/// A generated directory tree of a few MiB with every kind of entry a snapshot must carry: compressible and random
/// files, a file above the streaming threshold and its duplicate, a sparse file, a hardlink pair, symlinks (one
/// dangling), a FIFO, an empty file and directory, a name that is not UTF-8, an xattr, odd modes and exact
/// nanosecond mtimes. Deleted with everything in it on <see cref="Dispose"/>.
/// </summary>
public sealed class TestTree : IDisposable
{
    /// <summary>A file name that is not valid UTF-8.</summary>
    public static readonly byte[] OddName = [.. "odd-"u8, 0xff, 0xfe, .. ".bin"u8];

    private TestTree(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Creates the tree in a new temporary directory (the tree's root is <see cref="Path"/>).</summary>
    public static TestTree Create(int seed)
    {
        var tree = new TestTree(Directory.CreateTempSubdirectory("cairn-e2e-").FullName);
        try
        {
            tree.Populate(new Random(seed));
            return tree;
        }
        catch
        {
            tree.Dispose();
            throw;
        }
    }

    /// <summary>Another temporary directory, for a restore target (absent: the restore creates it).</summary>
    public static string NewTargetPath() => System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cairn-e2e-target-" + Guid.NewGuid().ToString("N"));

    /// <summary>Writes (or rewrites) a file under the tree; its directory must exist.</summary>
    public void Write(string relative, byte[] data, uint mode = 0b110_100_100, long? mtimeNs = null)
    {
        var path = System.IO.Path.Combine(Path, relative);
        using var parent = LinuxFile.OpenDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var fd = LinuxFile.OpenAt(parent, Encoding.UTF8.GetBytes(System.IO.Path.GetFileName(path)), OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Truncate | OpenFlags.NoFollow, mode);
        LinuxFile.WriteAll(fd, data, 0);
        LinuxFile.ChangeMode(fd, mode);
        if (mtimeNs is { } ns)
        {
            LinuxFile.SetTimes(fd, ns, ns);
        }
    }

    /// <summary>Deterministic text that compresses well.</summary>
    public static byte[] Text(Random random, int length)
    {
        string[] words = ["cairn", "snapshot", "restore", "pack", "frame", "chunk", "manifest", "tree", "object", "store", "bucket", "\n"];
        var text = new StringBuilder(length + 16);
        while (text.Length < length)
        {
            text.Append(words[random.Next(words.Length)]).Append(' ');
        }

        return Encoding.ASCII.GetBytes(text.ToString(0, length));
    }

    public static byte[] Noise(Random random, int length)
    {
        var data = new byte[length];
        random.NextBytes(data);
        return data;
    }

    public void Dispose() => Remove(Path);

    /// <summary>Removes a directory tree (restore targets too); no error if it is gone.</summary>
    public static void Remove(string path)
    {
        if (Directory.Exists(path))
        {
            using var rm = Process.Start("rm", ["-rf", "--", path]);
            rm.WaitForExit();
        }
    }

    private void Populate(Random random)
    {
        const long Mtime = 1_700_000_000_123_456_789;
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "src", "deep", "er"));
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "bin"));
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "links"));
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "empty"));
        for (var i = 0; i < 40; i++)
        {
            Write($"src/file{i:00}.txt", Text(random, random.Next(100, 20_000)), mtimeNs: Mtime + i);
        }

        Write("src/deep/er/tool.sh", Text(random, 3000), mode: 0b111_101_101);
        Write("src/deep/secret", Text(random, 500), mode: 0b110_000_000);
        Write("src/empty.txt", []);

        // Above the whole-file limit (streamed by the packer), and a duplicate that must be stored once.
        var blob = Noise(random, (1 << 20) + (512 << 10));
        Write("bin/blob.bin", blob);
        Write("bin/blob-copy.bin", blob);

        // Sparse: data at 0 and at 5 MiB of an 8 MiB file, holes in between and at the end.
        using (var fd = File.OpenHandle(System.IO.Path.Combine(Path, "bin", "sparse.img"), FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.Write(fd, Noise(random, 256 << 10), 0);
            RandomAccess.Write(fd, Noise(random, 256 << 10), 5 << 20);
            RandomAccess.SetLength(fd, 8 << 20);
        }

        using var links = LinuxFile.OpenDirectory(System.IO.Path.Combine(Path, "links"));
        Write("links/hard-a", Noise(random, 100_000));
        LinuxFile.LinkAt(links, "hard-a"u8, links, "hard-b"u8);
        LinuxFile.SymlinkAt("../src/file00.txt"u8, links, "to-file"u8);
        LinuxFile.SymlinkAt("nowhere/at/all"u8, links, "dangling"u8);
        LinuxFile.MakeNodeAt(links, "pipe"u8, 0x1000 | 0b110_100_000, 0);
        using (var fd = LinuxFile.OpenAt(links, OddName, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive, 0b110_100_100))
        {
            LinuxFile.WriteAll(fd, Text(random, 5000), 0);
        }

        using (var fd = LinuxFile.OpenAt(links, "hard-a"u8, OpenFlags.ReadOnly))
        {
            LinuxFile.SetXattr(fd, "user.cairn.test"u8, "a value"u8);
        }

        using var empty = LinuxFile.OpenDirectory(System.IO.Path.Combine(Path, "empty"));
        LinuxFile.ChangeMode(empty, 0b111_000_000);
    }
}
