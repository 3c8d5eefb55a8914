using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Tests.Support;

namespace Cairn.Tests.Restore;

/// <summary>
/// Damaged repositories: every byte read back is verified, a failure names the object, and a failed restore leaves
/// the target as it was (absent) with no staging directory behind.
/// </summary>
public sealed class CorruptionTests
{
    [Fact]
    public async Task A_flipped_byte_in_a_pack_fails_the_restore_naming_the_pack_and_leaves_nothing_behind()
    {
        await using var workspace = await Workspace.CreateAsync();
        var (snapshot, manifest) = await SnapshotAsync(workspace);
        var frame = manifest.Frames[^1];
        var pack = ObjectKeys.Pack(manifest.Packs[frame.Pack]);
        FlipByte(workspace, pack, frame.Offset + (frame.CompressedLength / 2));

        var e = await Assert.ThrowsAsync<CorruptDataException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));

        Assert.Equal($"{pack}: frame at offset {frame.Offset} fails its checksum (corrupt pack)", e.Message);
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_tampered_chunk_with_a_matching_frame_checksum_fails_verification()
    {
        await using var workspace = await Workspace.CreateAsync();
        var (snapshot, manifest) = await SnapshotAsync(workspace);

        // Change one byte of a frame's plaintext, recompress it in place, and record the new CRC in the manifest:
        // frame locations are not part of the tree hash, so the snapshot record still accepts the manifest.
        var f = manifest.Frames.Length - 1;
        var frame = manifest.Frames[f];
        var pack = ObjectKeys.Pack(manifest.Packs[frame.Pack]);
        var packPath = Path.Combine(workspace.RepoPath, pack);
        var packBytes = File.ReadAllBytes(packPath);
        var plain = new byte[frame.UncompressedLength];
        FrameCodec.Decode(packBytes.AsSpan((int)frame.Offset, (int)frame.CompressedLength), frame, plain, pack);
        plain[plain.Length / 2] ^= 1;
        var tampered = ZstdFrames.Compress(plain, 3);
        Assert.Equal((int)frame.CompressedLength, tampered.Length); // random data: zstd stores it raw
        tampered.CopyTo(packBytes, frame.Offset);
        File.WriteAllBytes(packPath, packBytes);
        manifest.Frames[f].Checksum = Crc32C.Compute(tampered);
        File.WriteAllBytes(Path.Combine(workspace.RepoPath, ObjectKeys.Manifest(manifest.TreeHash)), ManifestCodec.Encode(manifest));

        var e = await Assert.ThrowsAsync<CorruptDataException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));

        Assert.StartsWith($"{pack}: chunk ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(" fails verification (corrupt or tampered data)", e.Message, StringComparison.Ordinal);
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_corrupt_manifest_is_a_clear_error()
    {
        await using var workspace = await Workspace.CreateAsync();
        var (snapshot, _) = await SnapshotAsync(workspace);
        var key = ObjectKeys.Manifest(snapshot.TreeHash);
        FlipByte(workspace, key, 100);

        var e = await Assert.ThrowsAsync<CorruptDataException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));

        Assert.Equal($"{key} is corrupt (manifest checksum mismatch)", e.Message);
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_missing_pack_or_manifest_is_a_clear_error_naming_it()
    {
        await using var workspace = await Workspace.CreateAsync();
        var (snapshot, manifest) = await SnapshotAsync(workspace);
        var pack = ObjectKeys.Pack(manifest.Packs[^1]);
        File.Delete(Path.Combine(workspace.RepoPath, pack));

        var missingPack = await Assert.ThrowsAnyAsync<CairnException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));
        File.Delete(Path.Combine(workspace.RepoPath, ObjectKeys.Manifest(snapshot.TreeHash)));
        var missingManifest = await Assert.ThrowsAsync<CorruptDataException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));

        Assert.Equal($"object '{pack}' not found in {workspace.RepoPath}", missingPack.Message);
        Assert.Equal($"snapshot {snapshot.Id.ToShortString()} has no manifest ({ObjectKeys.Manifest(snapshot.TreeHash)} is missing)", missingManifest.Message);
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task Cat_of_a_corrupt_file_fails_and_writes_only_verified_bytes()
    {
        await using var workspace = await Workspace.CreateAsync();
        var (snapshot, manifest) = await SnapshotAsync(workspace);
        var entry = manifest.Resolve("big.bin"u8);
        var lastRef = manifest.ChunkRefsOf(entry)[^1];
        var frame = manifest.Frames[manifest.Locations[lastRef.Chunk].Frame];
        var pack = ObjectKeys.Pack(manifest.Packs[frame.Pack]);
        FlipByte(workspace, pack, frame.Offset + 10);

        var cat = await CairnCli.RunAsync(workspace.RepoPath, "cat", snapshot.Id.ToString(), "big.bin");

        Assert.Equal(1, cat.ExitCode);
        Assert.Equal($"cairn: {pack}: frame at offset {frame.Offset} fails its checksum (corrupt pack)\n", cat.Stderr);
        var original = File.ReadAllBytes(Path.Combine(workspace.Dir.Sub("src"), "big.bin"));
        Assert.InRange(cat.Stdout.Length, 0, original.Length - 1);
        Assert.True(original.AsSpan(0, cat.Stdout.Length).SequenceEqual(cat.Stdout), "cat wrote bytes that are not the file's");
    }

    /// <summary>A tree with one 3 MiB incompressible file (several frames and packs) and a few small ones.</summary>
    private static async Task<(SnapshotRecord Snapshot, Manifest Manifest)> SnapshotAsync(Workspace workspace)
    {
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "big.bin"), XorShift.Bytes(3 << 20, seed: 3));
        File.WriteAllText(Path.Combine(source, "small.txt"), "small");
        var result = await workspace.SnapshotAsync(source);
        return (result.Snapshot, await workspace.Repository.ReadManifestAsync(result.Snapshot));
    }

    private static void FlipByte(Workspace workspace, string key, long offset)
    {
        using var file = File.Open(Path.Combine(workspace.RepoPath, key), FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        var b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0x40));
    }
}
