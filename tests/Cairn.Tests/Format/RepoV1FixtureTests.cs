using System.Text;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Storage;
using Cairn.Tests.Support;

namespace Cairn.Tests.Format;

/// <summary>
/// Old repositories keep reading: Fixtures/repo-v1 was written once by format version 1 (see its README) and is
/// restored here by today's code. A change that breaks reading it breaks every repository users already have.
/// </summary>
public sealed class RepoV1FixtureTests
{
    private const long FileTime = 978_494_706_123_456_789;
    private const long DirectoryTime = 1_000_000_000_000_000_000;
    private const uint Mode644 = 0b110_100_100;

    private static string FixturePath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-v1");

    [Fact]
    public async Task The_v1_fixture_repository_restores_exactly_as_it_was_written()
    {
        using var temp = new TempDir();
        var repoPath = temp.Sub("repo");
        CopyDirectory(FixturePath, repoPath); // never risk writing into the committed fixture
        await using var repository = await Cairn.Repository.Repository.OpenAsync(new LocalObjectStore(repoPath));

        var record = await repository.ResolveAsync("v1");
        var target = temp.Sub("out");
        var result = await new Restorer(repository).RestoreAsync(record, target);

        Assert.Equal("2981231d1b70814b2c34bb2abaaa7d72b2bfadaa7b70540007e3562451b68491", record.Id.ToString());
        Assert.Equal("82d54f7ce9e84bb1c05b2e4c0190887f5246a0304304d5f12176cdfdd922c6ff", record.Tree);
        Assert.Single(await repository.ListSnapshotsAsync());
        Assert.Empty(result.Warnings);

        using var root = LinuxFile.OpenDirectory(target);
        byte[] oddName = [.. "sub/"u8, 0xff, 0xfe, .. "-name"u8];
        Assert.Equal(["empty", "fifo", "hello.txt", "pattern.bin", "run.sh", "sparse.img", "sub"], NativeFiles.Names(root).Select(Encoding.UTF8.GetString));
        Expect(root, ""u8, FileKind.Directory, 0b111_101_101, 0, 0, DirectoryTime);
        Expect(root, "sub"u8, FileKind.Directory, 0b111_101_000, 0, 0, DirectoryTime);
        Expect(root, "hello.txt"u8, FileKind.Regular, Mode644, 0, 0, FileTime, "hello, cairn\n"u8);
        Expect(root, "pattern.bin"u8, FileKind.Regular, Mode644, 0, 0, FileTime, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("cairn!\n", 42857)) + "c"));
        Expect(root, "run.sh"u8, FileKind.Regular, 0b111_101_101, 4242, 4343, FileTime, "#!/bin/sh\necho v1\n"u8);
        Expect(root, "empty"u8, FileKind.Regular, 0b110_000_000, 0, 0, -86_400_500_000_000, ""u8);
        Expect(root, "fifo"u8, FileKind.Fifo, 0b110_100_000, 0, 0, FileTime);
        Expect(root, "sub/to-hello"u8, FileKind.Symlink, 0b111_111_111, 1000, 1000, FileTime);
        Expect(root, oddName, FileKind.Regular, Mode644, 0, 0, FileTime, "not utf-8 name\n"u8);
        Assert.Equal("../hello.txt"u8.ToArray(), LinuxFile.ReadLinkAt(root, "sub/to-hello"u8));

        var xattrs = LinuxFile.ReadXattrs(root, "hello.txt"u8).Where(x => x.Key.AsSpan().StartsWith("user."u8)).ToList();
        Assert.Equal("user.cairn=fixture", string.Join(",", xattrs.Select(x => $"{Encoding.UTF8.GetString(x.Key)}={Encoding.UTF8.GetString(x.Value)}")));

        var hello = LinuxFile.Stat(root, "hello.txt"u8);
        Assert.Equal(hello.Inode, LinuxFile.Stat(root, "sub/hello-link"u8).Inode);
        Assert.Equal(2u, hello.LinkCount);

        var sparse = new byte[1 << 20];
        "middle"u8.CopyTo(sparse.AsSpan(512 << 10));
        Expect(root, "sparse.img"u8, FileKind.Regular, Mode644, 0, 0, FileTime, sparse);
        using var sparseFd = LinuxFile.OpenAt(root, "sparse.img"u8, OpenFlags.ReadOnly);
        Assert.Equal([(512L << 10, 4096L)], TreeComparer.DataExtents(sparseFd, 1 << 20));
    }

    [Fact]
    public async Task The_v1_fixture_index_and_pack_trailer_still_locate_its_chunks_for_dedup()
    {
        using var temp = new TempDir();
        var repoPath = temp.Sub("repo");
        CopyDirectory(FixturePath, repoPath);
        await using var repository = await Cairn.Repository.Repository.OpenAsync(new LocalObjectStore(repoPath));
        var record = await repository.ResolveAsync("v1");
        var manifest = await repository.ReadManifestAsync(record);

        // The version 1 index object (full 32-byte ids) places every chunk of the manifest where the manifest does.
        var index = await repository.LoadIndexAsync();
        Assert.Empty(index.RecoveredPacks);
        Assert.Equal(manifest.Chunks.Length, index.ChunkCount);
        for (var c = 0; c < manifest.Chunks.Length; c++)
        {
            Assert.True(index.TryGet(manifest.Chunks[c].Id, out var slot), $"chunk {c} not found");
            var frame = index.Frame(slot.Frame);
            Assert.Equal((manifest.Frames[manifest.Locations[c].Frame].Offset, manifest.Locations[c].OffsetInFrame), (frame.Offset, (uint)slot.OffsetInFrame));
        }

        // So does the version 1 pack's own trailer, and it names chunks by their full ids.
        var pack = manifest.Packs[0];
        var packIndex = await repository.ReadPackIndexAsync(pack, new FileInfo(Path.Combine(repoPath, ObjectKeys.Pack(pack))).Length);
        Assert.Equal(manifest.Chunks.Select(c => c.Id).Order(), packIndex.Chunks.Select(c => c.Id).Order());

        // And a snapshot of the same tree, written in today's format, stores none of its data again.
        var target = temp.Sub("out");
        await new Restorer(repository).RestoreAsync(record, target);
        var again = await new Archiver(repository).SnapshotAsync(target);
        Assert.Equal(0, again.Snapshot.Stats.NewBytes);
        Assert.Equal(0, again.Snapshot.Stats.NewChunks);
    }

    private static void Expect(FileDescriptor root, ReadOnlySpan<byte> path, FileKind kind, uint mode, uint uid, uint gid, long mtimeNs, ReadOnlySpan<byte> content = default)
    {
        var stat = path.IsEmpty ? LinuxFile.Stat(root) : LinuxFile.Stat(root, path);
        var what = PathBytes.Display(path);
        Assert.True(kind == stat.Kind, $"{what}: kind {stat.Kind}");
        Assert.True(mode == stat.Permissions, $"{what}: mode {Convert.ToString(stat.Permissions, 8)}");
        Assert.True(uid == stat.Uid && gid == stat.Gid, $"{what}: owner {stat.Uid}:{stat.Gid}");
        Assert.True(mtimeNs == stat.MTimeNs, $"{what}: mtime {stat.MTimeNs}");
        if (kind == FileKind.Regular)
        {
            Assert.True(content.SequenceEqual(NativeFiles.ReadAll(root, path)), $"{what}: content differs");
        }
    }

    private static void CopyDirectory(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
    }
}
