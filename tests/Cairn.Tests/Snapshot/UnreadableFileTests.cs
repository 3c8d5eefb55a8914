using System.Text;
using Cairn.Native.Linux;
using Cairn.Snapshot;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>A fact that runs the CLI without the capabilities that let root read any file (CAP_DAC_*): needs root and setpriv.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class WithoutReadOverrideFactAttribute : FactAttribute
{
    public WithoutReadOverrideFactAttribute()
    {
        if (!LinuxFile.IsRoot)
        {
            Skip = "needs root (to drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH while keeping uid 0)";
        }
        else if (!File.Exists("/usr/bin/setpriv"))
        {
            Skip = "needs /usr/bin/setpriv";
        }
    }
}

/// <summary>
/// Files that cannot be read: an error by default; with --skip-unreadable they are listed and left out. Files that
/// change while they are read: read again, and stored as last read with a warning if they change during every read —
/// never stored torn in silence. Changes are made at the exact moment of a read by a <see cref="FanotifyHook"/>, so
/// the outcome does not depend on the scheduler.
/// </summary>
public sealed class UnreadableFileTests
{
    /// <summary>Root without the DAC override capabilities: mode 000 means unreadable, as for anyone else.</summary>
    private static readonly string[] s_withoutReadOverride = ["/usr/bin/setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"];

    [WithoutReadOverrideFact]
    public async Task Unreadable_files_and_directories_fail_the_snapshot_or_with_skip_unreadable_are_listed_and_left_out()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        Shell.Run("echo readable > ok.txt && echo secret > secret && chmod 000 secret && mkdir locked && echo hidden > locked/f && chmod 000 locked", source);

        var failed = await CairnCli.RunAsync(workspace.RepoPath, ["snapshot", source, "--json"], s_withoutReadOverride);
        var skipped = await CairnCli.RunAsync(workspace.RepoPath, ["snapshot", source, "--skip-unreadable", "--json"], s_withoutReadOverride);

        Assert.Equal(1, failed.ExitCode);
        var message = failed.Json.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Matches("^cannot read '(locked|secret)': .*Permission denied.* \\(use --skip-unreadable to continue without it\\)$", message);
        Assert.True(skipped.ExitCode == 0, skipped.ToString());
        var listed = skipped.Json.GetProperty("skipped").EnumerateArray().Select(s => s.GetString()!).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(2, listed.Count);
        Assert.StartsWith("locked: ", listed[0], StringComparison.Ordinal);
        Assert.StartsWith("secret: ", listed[1], StringComparison.Ordinal);

        await using var repository = await workspace.ReopenAsync();
        var snapshots = await repository.ListSnapshotsAsync();
        var snapshot = Assert.Single(snapshots); // the failed run left no snapshot
        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(snapshot, target);

        // Both are left out: an empty file would say the file was empty.
        Assert.Equal(["ok.txt"], Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName));
        Assert.Equal("readable\n", File.ReadAllText(Path.Combine(target, "ok.txt")));
        Assert.Equal(1, snapshot.Stats.Files);
    }

    /// <summary>
    /// An image is named on its own, and its snapshot is one of a set (a VM's rootfs, memory, vmstate): one that cannot
    /// be read fails the snapshot, with --skip-unreadable too (which left it out, and had stored it empty before).
    /// </summary>
    [WithoutReadOverrideFact]
    public async Task An_unreadable_image_fails_the_snapshot_also_with_skip_unreadable()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("vm");
        Shell.Run("head -c 65536 /dev/urandom > rootfs.img && head -c 65536 /dev/urandom > mem.img && chmod 000 mem.img", source);

        foreach (var extra in new[] { Array.Empty<string>(), ["--skip-unreadable"] })
        {
            var run = await CairnCli.RunAsync(workspace.RepoPath, ["snapshot", "--image", Path.Combine(source, "rootfs.img"), Path.Combine(source, "mem.img"), "--json", .. extra], s_withoutReadOverride);
            Assert.True(run.ExitCode == 1, run.ToString());
            var message = run.Json.GetProperty("error").GetProperty("message").GetString()!;
            Assert.Matches("^cannot read '.*/mem\\.img': .*Permission denied", message);
            Assert.DoesNotContain("--skip-unreadable", message, StringComparison.Ordinal); // no way round it to suggest
        }

        await using var repository = await workspace.ReopenAsync();
        Assert.Empty(await repository.ListSnapshotsAsync());
    }

    [Theory]
    [MemberData(nameof(ReadPaths.WholeAndStreamed), MemberType = typeof(ReadPaths))]
    public async Task A_file_that_grows_during_every_read_is_stored_as_last_read_with_a_warning(int size, bool skipUnreadable)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllText(Path.Combine(source, "calm.txt"), "calm");
        var path = Path.Combine(source, "growing.log");
        File.WriteAllBytes(path, Stream(0, size));

        SnapshotResult result;
        using (var writer = new Appender(path, size))
        using (var hook = FanotifyHook.BeforeReads(path, _ => writer.Append()))
        {
            result = await workspace.SnapshotAsync(source, new SnapshotOptions { SkipUnreadable = skipUnreadable });
            Assert.Null(hook.Failure);
        }

        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(result.Snapshot, target);

        Assert.Equal("'growing.log' changed during each of 3 reads: stored as last read, which may be inconsistent", Assert.Single(result.Warnings));
        Assert.Empty(result.Skipped);

        // The third read: the file as it was before it (two appends longer than listed, at least), as far as it read.
        var stored = File.ReadAllBytes(Path.Combine(target, "growing.log"));
        Assert.InRange(stored.Length, size + (2 * Appender.Step), new FileInfo(path).Length - Appender.Step);
        Assert.Equal(Stream(0, stored.Length), stored);
        Assert.Equal("calm", File.ReadAllText(Path.Combine(target, "calm.txt")));
    }

    [Theory]
    [InlineData(512 << 10, (512 << 10) - (5 * 4096))] // read whole by a reader thread: each read is a read(2) cut short, then one at the end
    [InlineData(20 << 20, -1)]                        // streamed by the packer, several reads in flight when the file shrinks
    public async Task A_file_truncated_during_every_read_is_stored_as_far_as_its_last_read_got(int size, int expected)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        var path = Path.Combine(source, "shrinking.bin");
        File.WriteAllBytes(path, Stream(0, size));

        SnapshotResult result;
        using (var hook = FanotifyHook.BeforeReads(path, read => Truncate(path, Math.Max(0, size - (read * 4096)))))
        {
            result = await workspace.SnapshotAsync(source);
            Assert.Null(hook.Failure);
        }

        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(result.Snapshot, target);

        // What the last read got before the file ended, and nothing past it: never bytes that were not read.
        Assert.Equal("'shrinking.bin' changed during each of 3 reads: stored as last read, which may be inconsistent", Assert.Single(result.Warnings));
        var stored = File.ReadAllBytes(Path.Combine(target, "shrinking.bin"));
        Assert.InRange(stored.Length, 1, size - (3 * 4096));
        Assert.Equal(Stream(0, stored.Length), stored);
        if (expected >= 0)
        {
            Assert.Equal(expected, stored.Length);
        }
    }

    [Theory]
    [InlineData(512 << 10)]
    [InlineData(4 << 20)]
    public async Task A_file_that_grows_during_its_first_read_only_is_read_again_and_stored_as_it_then_was(int size)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        var path = Path.Combine(source, "growing.log");
        File.WriteAllBytes(path, Stream(0, size));

        SnapshotResult result;
        using (var writer = new Appender(path, size))
        using (var hook = FanotifyHook.BeforeReads(path, read => { if (read == 1) { writer.Append(); } }))
        {
            result = await workspace.SnapshotAsync(source);
            Assert.Null(hook.Failure);
            Assert.True(hook.Count >= 2, $"{hook.Count} reads");
        }

        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(result.Snapshot, target);

        Assert.Empty(result.Skipped);
        Assert.Equal(size + Appender.Step, new FileInfo(path).Length);
        TreeComparer.AssertEqual(source, target);
    }

    [Theory]
    [InlineData(512 << 10)] // read whole by a reader thread
    [InlineData(20 << 20)]  // streamed by the packer, several reads in flight when the file shrinks
    public async Task A_file_truncated_during_its_first_read_is_read_again_and_stored_as_it_then_was(int size)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        var path = Path.Combine(source, "shrinking.bin");
        File.WriteAllBytes(path, Stream(0, size));

        SnapshotResult result;
        // A whole-file read is one read(2); a streamed file is cut short while its second segment is being read.
        var truncateAt = size > 1 << 20 ? 2 : 1;
        using (var hook = FanotifyHook.BeforeReads(path, read => { if (read == truncateAt) { Truncate(path, size / 3); } }))
        {
            result = await workspace.SnapshotAsync(source);
            Assert.Null(hook.Failure);
            Assert.True(hook.Count > truncateAt, $"{hook.Count} reads");
        }

        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(result.Snapshot, target);

        Assert.Empty(result.Skipped);
        Assert.Equal(Stream(0, size / 3), File.ReadAllBytes(Path.Combine(target, "shrinking.bin")));
        TreeComparer.AssertEqual(source, target);
    }

    private static void Truncate(string path, long length)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.SetLength(length);
    }

    /// <summary>The bytes at [offset, offset + length) of the appended stream: byte i is a function of i.</summary>
    private static byte[] Stream(long offset, int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(((ulong)(offset + i) * 0x9E3779B97F4A7C15UL) >> 56);
        }

        return bytes;
    }

    /// <summary>Appends the next <see cref="Step"/> bytes of the stream to a file, on demand.</summary>
    private sealed class Appender : IDisposable
    {
        public const int Step = 16;

        private readonly FileDescriptor _directory;
        private readonly FileDescriptor _fd;
        private long _size;

        public Appender(string path, long size)
        {
            _directory = LinuxFile.OpenDirectory(Path.GetDirectoryName(path)!);
            _fd = LinuxFile.OpenAt(_directory, Encoding.UTF8.GetBytes(Path.GetFileName(path)), OpenFlags.WriteOnly);
            _size = size;
        }

        public void Append()
        {
            LinuxFile.WriteAll(_fd, Stream(_size, Step), _size);
            _size += Step;
        }

        public void Dispose()
        {
            _fd.Dispose();
            _directory.Dispose();
        }
    }
}
