using System.Text;
using Cairn.Native.Linux;

namespace Cairn.Tests.Mount;

/// <summary>A source tree with everything a mount must reproduce: several frames of data, duplicates, holes, odd names, links, xattrs, modes, a fifo, owners.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class SampleTree
{
    public const int BigSize = 1_500_000;
    public static readonly byte[] LatinName = [(byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)'.', (byte)'t', (byte)'x', (byte)'t'];

    public static void Create(string root)
    {
        Directory.CreateDirectory(root);
        File.WriteAllBytes(Path.Combine(root, "big.bin"), Data(BigSize, seed: 1));
        File.WriteAllBytes(Path.Combine(root, "copy-of-big.bin"), Data(BigSize, seed: 1));
        File.WriteAllBytes(Path.Combine(root, "other.bin"), Data(300_000, seed: 2));
        File.WriteAllBytes(Path.Combine(root, "empty"), []);
        File.WriteAllText(Path.Combine(root, "small.txt"), "hello\n");
        File.WriteAllText(Path.Combine(root, "名前.txt"), "utf-8 name\n");

        // Holes at the start, in the middle and at the end.
        using (var sparse = new FileStream(Path.Combine(root, "sparse.bin"), FileMode.CreateNew))
        {
            sparse.SetLength(3 << 20);
            sparse.Position = 1 << 20;
            sparse.Write(Data(100_000, seed: 3));
            sparse.Position = (2 << 20) + 5;
            sparse.Write("island"u8);
        }

        var dir = Directory.CreateDirectory(Path.Combine(root, "dir")).FullName;
        Directory.CreateDirectory(Path.Combine(dir, "sub", "deeper"));
        File.WriteAllText(Path.Combine(dir, "sub", "deeper", "deep.txt"), "deep\n");
        File.CreateSymbolicLink(Path.Combine(dir, "link-relative"), "../small.txt");
        File.CreateSymbolicLink(Path.Combine(root, "link-absolute"), "/etc/hostname");
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), "no/such/target");
        File.WriteAllText(Path.Combine(root, "hard1"), "shared by two names\n");

        var secret = Path.Combine(root, "secret");
        File.WriteAllText(secret, "0600\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var script = Path.Combine(root, "script.sh");
        File.WriteAllText(script, "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        var sticky = Directory.CreateDirectory(Path.Combine(root, "tmp")).FullName;
        File.SetUnixFileMode(sticky, (UnixFileMode)0b1_111_111_111);

        var many = Directory.CreateDirectory(Path.Combine(root, "many")).FullName;
        for (var i = 0; i < 300; i++)
        {
            File.WriteAllText(Path.Combine(many, $"file-{i:D3}.txt"), $"file {i}\n");
        }

        using var rootFd = LinuxFile.OpenDirectory(root);
        using (var fd = LinuxFile.OpenAt(rootFd, LatinName, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive, 0b110_100_100))
        {
            LinuxFile.WriteAll(fd, "latin-1 name\n"u8, 0);
        }

        using (var dirFd = LinuxFile.OpenAt(rootFd, "dir"u8, OpenFlags.Directory))
        {
            LinuxFile.LinkAt(rootFd, "hard1"u8, dirFd, "hard2"u8);
            LinuxFile.SetXattrAt(rootFd, "dir"u8, "user.kind"u8, "directory"u8);
        }

        LinuxFile.SetXattrAt(rootFd, "small.txt"u8, "user.test"u8, "value"u8);
        LinuxFile.SetXattrAt(rootFd, "small.txt"u8, "user.binary"u8, [0, 1, 2, 255]);
        LinuxFile.MakeNodeAt(rootFd, "pipe"u8, 0x1000 | 0b110_100_100, 0);
        if (LinuxFile.IsRoot)
        {
            LinuxFile.ChangeOwnerAt(rootFd, "small.txt"u8, 1234, 5678);
        }
    }

    /// <summary>Changes the tree a little, as a workload would: one file rewritten, one added.</summary>
    public static void Change(string root)
    {
        File.WriteAllText(Path.Combine(root, "small.txt"), "changed\n");
        File.WriteAllBytes(Path.Combine(root, "added.bin"), Data(200_000, seed: 4));
    }

    public static byte[] Data(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
