using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Cairn.Mount;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Tests.Fuse;
using Cairn.Tests.Images;
using Cairn.Tests.Support;

namespace Cairn.Tests.Mount;

/// <summary>
/// SEEK_DATA and SEEK_HOLE through real mounts, against the same files restored to the local disk (ext4): every answer
/// equal, at every block boundary and around it, and what copies that skip holes (overlayfs copy-up, cp) make of it.
/// </summary>
[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class MountSeekTests
{
    private const int Block = TestImage.Block;
    private const int SeekData = 3;
    private const int SeekHole = 4;

    [FuseFact]
    public async Task SEEK_DATA_and_SEEK_HOLE_on_mounted_images_answer_as_on_the_restored_images_without_a_fetch()
    {
        await using var lab = await MountLab.CreateAsync();
        var images = Directory.CreateDirectory(Path.Combine(lab.Root, "images")).FullName;
        string[] paths =
        [
            // Data at the start, a zero block written between data blocks, a run of 40 blocks, a partial last block.
            WriteImage(images, "edges.img", (300 * Block) + 100, (0, 3, false), (3, 1, true), (4, 1, false), (5, 5, true), (100, 40, false), (300, 1, false)),
            WriteImage(images, "zeros.img", 64 * Block, (0, 32, true), (32, 1, false), (33, 31, true)),
            WriteImage(images, "middle.img", 64 * Block, (20, 10, false)),
            WriteImage(images, "holes.img", 1 << 20),
            WriteImage(images, "all-zero.img", 16 * Block, (0, 16, true)),
            WriteImage(images, "empty.img", 0),
            WriteImage(images, "dense.img", 16 * Block, (0, 16, false)),
        ];
        var snapshot = (await new Archiver(lab.Repository, new SnapshotOptions()).SnapshotImagesAsync(paths)).Snapshot;
        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);
        var mount = await lab.MountAsync(snapshot);

        foreach (var path in paths)
        {
            var name = Path.GetFileName(path);
            Assert.Equal(Answers(Path.Combine(restored, name)), Answers(Path.Combine(mount.MountPoint, name)));
        }

        // Zero blocks that were written are holes as well (not stored, read as zeros), as in the restored file.
        var m = mount.MountPoint;
        Assert.Equal(3 * Block, Seek(Path.Combine(m, "edges.img"), 0, SeekHole));
        Assert.Equal(4 * Block, Seek(Path.Combine(m, "edges.img"), 3 * Block, SeekData));
        Assert.Equal(140 * Block, Seek(Path.Combine(m, "edges.img"), (100 * Block) + 5, SeekHole));
        Assert.Equal((300 * Block) + 100, Seek(Path.Combine(m, "edges.img"), 300 * Block, SeekHole));
        Assert.Equal(32 * Block, Seek(Path.Combine(m, "zeros.img"), 0, SeekData));
        Assert.Equal(-Errno.ENXIO, Seek(Path.Combine(m, "zeros.img"), 33 * Block, SeekData));
        Assert.Equal(-Errno.ENXIO, Seek(Path.Combine(m, "all-zero.img"), 0, SeekData));
        Assert.Equal(0, Seek(Path.Combine(m, "holes.img"), 0, SeekHole));
        Assert.Equal(-Errno.ENXIO, Seek(Path.Combine(m, "empty.img"), 0, SeekHole));
        Assert.Equal(16 * Block, Seek(Path.Combine(m, "dense.img"), 0, SeekHole));

        // Answered from the manifest: not a byte read, not a frame fetched.
        Assert.Equal(0, mount.Statistics.Reads);
        Assert.Equal(0, mount.Statistics.FetchedBytes);
        Assert.Empty(lab.Log);
    }

    [FuseFact]
    public async Task SEEK_DATA_and_SEEK_HOLE_on_a_mounted_tree_answer_as_on_the_restored_tree()
    {
        await using var lab = await MountLab.CreateAsync();
        var holes = Directory.CreateDirectory(Path.Combine(lab.Source, "holes")).FullName;
        using (var file = new FileStream(Path.Combine(holes, "runs.bin"), FileMode.CreateNew))
        {
            // Runs of many chunks each (16 KiB average): the end of a run is found without walking its chunks.
            file.SetLength(12 << 20);
            WriteRandom(file, 0, 3 << 20, seed: 1);
            WriteRandom(file, 6 << 20, 100_000, seed: 2);
            WriteRandom(file, 9 << 20, 2 << 20, seed: 3);
        }

        using (var file = new FileStream(Path.Combine(holes, "tail.bin"), FileMode.CreateNew))
        {
            file.SetLength(1 << 20);
            WriteRandom(file, (1 << 20) - 10_000, 10_000, seed: 4);
        }

        using (var file = new FileStream(Path.Combine(holes, "all-hole.bin"), FileMode.CreateNew))
        {
            file.SetLength(5 << 20);
        }

        // A tree stores zero chunks: written zeros stay data.
        await File.WriteAllBytesAsync(Path.Combine(holes, "zeros.bin"), new byte[256 << 10]);
        var snapshot = await lab.SnapshotAsync();
        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);
        var mount = await lab.MountAsync(snapshot);

        foreach (var name in new[] { "holes/runs.bin", "holes/tail.bin", "holes/all-hole.bin", "holes/zeros.bin", "sparse.bin", "empty", "big.bin", "small.txt" })
        {
            Assert.Equal(Answers(Path.Combine(restored, name)), Answers(Path.Combine(mount.MountPoint, name)));
        }

        var runs = Path.Combine(mount.MountPoint, "holes/runs.bin");
        Assert.Equal(3 << 20, Seek(runs, 1 << 20, SeekHole));
        Assert.Equal(6 << 20, Seek(runs, 3 << 20, SeekData));
        Assert.Equal(11 << 20, Seek(runs, 10 << 20, SeekHole));
        Assert.Equal(-Errno.ENXIO, Seek(runs, 11 << 20, SeekData));
        Assert.Equal(256 << 10, Seek(Path.Combine(mount.MountPoint, "holes/zeros.bin"), 0, SeekHole));
        Assert.Equal(0, mount.Statistics.Reads);
    }

    [FuseFact]
    public async Task A_write_through_a_kernel_overlay_copies_a_sparse_image_up_with_the_holes_a_plain_lower_keeps()
    {
        await using var lab = await MountLab.CreateAsync();
        const long size = 48 << 20;
        var image = WriteImage(lab.Root, "rootfs.img", size, (0, 64, false), (64, 64, true), (2048, 256, false), (10240, 512, false), ((size / Block) - 1, 1, false));
        var snapshot = (await new Archiver(lab.Repository, new SnapshotOptions()).SnapshotImagesAsync([image])).Snapshot;

        // The same change through kernel overlayfs over the restored image on the local disk: what copy-up keeps there.
        var plain = new OverlayDirectory(Directory.CreateDirectory(Path.Combine(lab.Root, "plain")).FullName);
        await new Restorer(lab.Repository).RestoreAsync(snapshot, plain.Lower);
        Directory.CreateDirectory(plain.Upper);
        Directory.CreateDirectory(plain.Work);
        var plainMerged = lab.NewMountPoint();
        OverlayLayer.Mount(OverlayFlavor.Kernel, plain, plainMerged, "overlay");
        try
        {
            var writable = await lab.MountWritableAsync(snapshot, OverlayFlavor.Kernel);
            foreach (var merged in new[] { writable.MountPoint, plainMerged })
            {
                using var handle = File.OpenHandle(Path.Combine(merged, "rootfs.img"), FileMode.Open, FileAccess.Write);
                RandomAccess.Write(handle, "NEWDATA"u8, Block);
            }

            var copied = Path.Combine(writable.Directory.Upper, "rootfs.img");
            var expected = Path.Combine(plain.Upper, "rootfs.img");
            Assert.Equal(await File.ReadAllBytesAsync(expected), await File.ReadAllBytesAsync(copied));
            Assert.Equal(Extents(expected), Extents(copied));
            Assert.Equal(AllocatedBytes(expected), AllocatedBytes(copied));
            Assert.True(AllocatedBytes(copied) < size / 4, $"{AllocatedBytes(copied)} bytes allocated for {size}");
        }
        finally
        {
            LinuxMount.UnmountLazily(plainMerged);
        }
    }

    [FuseFact("cp")]
    public async Task Cp_from_the_mount_reads_only_the_data_and_writes_the_holes()
    {
        await using var lab = await MountLab.CreateAsync();
        const long size = 64 << 20;
        var image = WriteImage(lab.Root, "disk.img", size, (0, 256, false), (256, 256, true), (8192, 256, false), ((size / Block) - 1, 1, false));
        var snapshot = (await new Archiver(lab.Repository, new SnapshotOptions()).SnapshotImagesAsync([image])).Snapshot;
        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);
        var mount = await lab.MountAsync(snapshot);
        var source = Path.Combine(mount.MountPoint, "disk.img");

        // --sparse=always makes holes of whatever zeros it reads; only the holes it is told of it need not read.
        var always = Path.Combine(lab.Root, "always.img");
        Assert.Equal(string.Empty, await ProcessRunner.RunTextAsync("cp", "--sparse=always", source, always));
        Assert.True(mount.Statistics.BytesServed < 16 << 20, $"{mount.Statistics.BytesServed} bytes read through the mount for {2 << 20} of data");
        Assert.Equal(Extents(Path.Combine(restored, "disk.img")), Extents(always));

        // The default (--sparse=auto) makes holes only where the source says it has them.
        var auto = Path.Combine(lab.Root, "auto.img");
        Assert.Equal(string.Empty, await ProcessRunner.RunTextAsync("cp", source, auto));
        Assert.Equal(Extents(Path.Combine(restored, "disk.img")), Extents(auto));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(restored, "disk.img")), await File.ReadAllBytesAsync(auto));
    }

    [Fact]
    public async Task Whence_values_the_kernel_answers_itself_get_lseek_answers_too()
    {
        await using var lab = await MountLab.CreateAsync();
        var manifest = await lab.Repository.ReadManifestAsync(await lab.SnapshotAsync());
        var map = new HoleMap(manifest);
        var sparse = manifest.Resolve("sparse.bin"u8);
        const long size = 3 << 20;

        Assert.Equal((0, 5L), Call(FuseSeekWhence.Set, 5));
        Assert.Equal((0, size - 1), Call(FuseSeekWhence.End, -1));
        Assert.Equal((0, size + 10), Call(FuseSeekWhence.End, 10));
        Assert.Equal(Errno.EINVAL, Call(FuseSeekWhence.Set, -1).Error);
        Assert.Equal(Errno.EINVAL, Call(FuseSeekWhence.End, -size - 1).Error);
        Assert.Equal(Errno.EINVAL, Call(FuseSeekWhence.End, long.MaxValue).Error);
        Assert.Equal(Errno.EINVAL, Call(FuseSeekWhence.Current, 0).Error); // the position is the kernel's
        Assert.Equal(Errno.EINVAL, Call((FuseSeekWhence)5, 0).Error);
        Assert.Equal((0, 1L << 20), Call(FuseSeekWhence.Data, 0));

        (int Error, long Position) Call(FuseSeekWhence whence, long offset)
        {
            var error = map.Seek(sparse, offset, whence, out var position);
            return (error, error == 0 ? position : 0);
        }
    }

    /// <summary>
    /// Every SEEK_DATA and SEEK_HOLE answer for the file at each block boundary, one byte either side, and at and past
    /// the end (negative: an errno), as lines that name the call.
    /// </summary>
    private static List<string> Answers(string path)
    {
        using var fd = LinuxFile.Open(path, OpenFlags.ReadOnly);
        var size = LinuxFile.Stat(fd).Size;
        var offsets = new SortedSet<long> { -1, size - 1, size, size + 1, size + (1L << 30), long.MaxValue };
        for (long at = 0; at <= size + Block; at += Block)
        {
            offsets.UnionWith([at - 1, at, at + 1]);
        }

        var answers = new List<string>();
        foreach (var offset in offsets)
        {
            answers.Add($"SEEK_DATA({offset}) = {Seek(fd, offset, SeekData)}");
            answers.Add($"SEEK_HOLE({offset}) = {Seek(fd, offset, SeekHole)}");
        }

        return answers;
    }

    private static long Seek(string path, long offset, int whence)
    {
        using var fd = LinuxFile.Open(path, OpenFlags.ReadOnly);
        return Seek(fd, offset, whence);
    }

    /// <summary>lseek(2): the offset, or minus the errno.</summary>
    private static long Seek(FileDescriptor fd, long offset, int whence)
    {
        var result = Libc.LSeek(fd, offset, whence);
        return result >= 0 ? result : -Marshal.GetLastPInvokeError();
    }

    private static long AllocatedBytes(string path)
    {
        using var fd = LinuxFile.Open(path, OpenFlags.ReadOnly);
        return LinuxFile.Stat(fd).Blocks * 512;
    }

    private static List<(long, long)> Extents(string path)
    {
        using var fd = LinuxFile.Open(path, OpenFlags.ReadOnly);
        return Support.TreeComparer.DataExtents(fd, LinuxFile.Stat(fd).Size);
    }

    /// <summary>An image of <paramref name="size"/> bytes, holes but for the runs of blocks written: random data, or zeros.</summary>
    private static string WriteImage(string directory, string name, long size, params (long First, long Count, bool Zero)[] runs)
    {
        var path = Path.Combine(directory, name);
        using var file = new FileStream(path, FileMode.CreateNew);
        file.SetLength(size);
        var seed = 0;
        foreach (var (first, count, zero) in runs)
        {
            var length = (int)Math.Min(count * Block, size - (first * Block));
            if (zero)
            {
                file.Position = first * Block;
                file.Write(new byte[length]);
            }
            else
            {
                WriteRandom(file, first * Block, length, ++seed);
            }
        }

        return path;
    }

    private static void WriteRandom(FileStream file, long offset, int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        file.Position = offset;
        file.Write(data);
    }
}
