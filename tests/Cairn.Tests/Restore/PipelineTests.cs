using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Restore;
using Cairn.Storage;
using Cairn.Tests.Images;
using Cairn.Tests.Support;

namespace Cairn.Tests.Restore;

/// <summary>
/// The data phase of a restore (<see cref="FramePipeline"/>): frames of one read decoded by several threads at once,
/// reads ahead within a budget; and when any part fails or the restore is cancelled half-way, the failure is what is
/// reported and the target is left as it was.
/// </summary>
public sealed class PipelineTests
{
    // Many reads of a few frames, a budget of two reads, more threads than frames per read: every frame of a read is
    // handled by a different thread than the one before it, and reads wait for buffers.
    private static readonly RestoreOptions s_tight = new() { MaxReadSize = 600 << 10, ReadAheadBytes = 0, Concurrency = 3, DecodeThreads = 4 };

    [Fact]
    public async Task A_restore_with_tight_limits_and_more_threads_than_cores_is_exact()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Generate(11, TreeShape.Varied);
        File.WriteAllBytes(Path.Combine(source, "big.bin"), XorShift.Bytes(5 << 20, seed: 11));
        var snapshot = (await workspace.SnapshotAsync(source)).Snapshot;
        var target = workspace.Dir.Sub("restored");

        await workspace.RestoreAsync(snapshot, target, s_tight);

        TreeComparer.AssertEqual(source, target);
        Assert.Equal(["repo", "restored", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_read_that_fails_half_way_is_the_error_reported_and_nothing_is_left_behind()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotBulkAsync(workspace);
        var injected = new StoreException("packs/x", "injected failure of the fourth ranged read");

        var e = await Assert.ThrowsAsync<StoreException>(() => RestoreThroughAsync(workspace, snapshot, n => n == 4 ? ValueTask.FromException(injected) : ValueTask.CompletedTask));

        Assert.Same(injected, e);
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task Cancelling_half_way_stops_the_restore_and_leaves_nothing_behind()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotBulkAsync(workspace);
        using var cancel = new CancellationTokenSource();
        var reads = 0;
        var readsLock = new Lock();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RestoreThroughAsync(workspace, snapshot, n =>
        {
            // The highest count seen: readers run side by side, so the 2nd may record after the 3rd.
            lock (readsLock)
            {
                reads = Math.Max(reads, n);
            }

            if (n == 3)
            {
                cancel.Cancel();
            }

            return ValueTask.CompletedTask;
        }, cancel.Token));

        Assert.InRange(reads, 3, 6); // the readers stop: not every read of the snapshot is made
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [RootFact]
    public async Task A_write_that_fails_on_a_decode_thread_is_a_clear_error_and_the_target_file_system_is_left_empty()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotBulkAsync(workspace);

        var e = await RestoreToSmallTmpfsAsync(workspace, snapshot, "size=1m");

        Assert.Equal(Errno.ENOSPC, e.Errno);
        Assert.StartsWith("pwrite64 ", e.Message, StringComparison.Ordinal);
    }

    [RootFact]
    public async Task Running_out_of_inodes_while_decode_threads_already_write_is_a_clear_error_and_the_target_file_system_is_left_empty()
    {
        // Files at the top are written while the 300 directories below are still being created, until inodes run out.
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(3 << 20, seed: 1));
        for (var d = 0; d < 300; d++)
        {
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(source, $"d{d:D3}")).FullName, "f"), $"file {d}");
        }

        var snapshot = (await workspace.SnapshotAsync(source)).Snapshot;

        var e = await RestoreToSmallTmpfsAsync(workspace, snapshot, "size=64m,nr_inodes=150");

        Assert.Equal(Errno.ENOSPC, e.Errno);
        Assert.Matches("^(mkdirat|openat) ", e.Message);
    }

    /// <summary>Restores to a tmpfs mounted with <paramref name="options"/>; returns the error, once the tmpfs is checked empty and unmounted.</summary>
    private static async Task<LinuxIOException> RestoreToSmallTmpfsAsync(Workspace workspace, SnapshotRecord snapshot, string options)
    {
        var small = workspace.Dir.CreateSub("small");
        await LoopXfs.Run("mount", "-t", "tmpfs", "-o", options, "cairn-test", small);
        try
        {
            var e = await Assert.ThrowsAsync<LinuxIOException>(() => workspace.RestoreAsync(snapshot, Path.Combine(small, "out"), s_tight));
            Assert.Empty(Directory.EnumerateFileSystemEntries(small));
            return e;
        }
        finally
        {
            await LoopXfs.Run("umount", small);
        }
    }

    /// <summary>6 MiB in 24 frames (256 KiB) over several 1 MiB packs: many reads under <see cref="s_tight"/>.</summary>
    private static async Task<SnapshotRecord> SnapshotBulkAsync(Workspace workspace)
    {
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(3 << 20, seed: 1));
        File.WriteAllBytes(Path.Combine(source, "b.bin"), XorShift.Bytes(3 << 20, seed: 2));
        return (await workspace.SnapshotAsync(source)).Snapshot;
    }

    private static async Task RestoreThroughAsync(Workspace workspace, SnapshotRecord snapshot, Func<int, ValueTask> hook, CancellationToken cancellationToken = default)
    {
        await using var repository = await Cairn.Repository.Repository.OpenAsync(new HookedStore(new LocalObjectStore(workspace.RepoPath), hook), CancellationToken.None);
        await new Restorer(repository, s_tight).RestoreAsync(snapshot, workspace.Dir.Sub("out"), cancellationToken);
    }
}
