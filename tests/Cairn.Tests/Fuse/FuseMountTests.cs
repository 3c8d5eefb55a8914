using Cairn.Native.Linux;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using Cairn.Native.Fuse;
using Cairn.Tests.Support;

namespace Cairn.Tests.Fuse;

[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class FuseMountTests
{
    private const int BigSize = 3 * 1024 * 1024;
    private static readonly byte[] BigData = CreateData(BigSize, seed: 42);
    private static readonly byte[] DeepData = "hello from deep inside\n"u8.ToArray();
    private static readonly byte[] Latin1Name = [(byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)'.', (byte)'b', (byte)'i', (byte)'n']; // "café.bin" in Latin-1: not UTF-8

    [FuseFact("find")]
    public async Task Listing_through_the_kernel_shows_every_entry_including_a_non_utf8_name()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());

        (int exitCode, byte[] output, string error) = await ProcessRunner.RunAsync("find", [".", "-print0"], mount.MountPoint);

        Assert.True(exitCode == 0, error);
        var listed = Split(output).Select(Convert.ToHexString).ToHashSet();
        var expected = new[] { ".", "./dir", "./dir/sub", "./dir/sub/deep.txt", "./dir/hard2", "./big.bin", "./link", "./hard1", "./many" }
            .Select(s => Encoding.UTF8.GetBytes(s))
            .Append([.. "./"u8, .. Latin1Name])
            .Concat(Enumerable.Range(0, 1000).Select(i => Encoding.UTF8.GetBytes($"./many/file-{i:D4}")))
            .Select(Convert.ToHexString)
            .ToHashSet();
        Assert.Equal(expected.Order(), listed.Order());

        // The non-UTF-8 name is reachable, not just listed.
        (exitCode, output, error) = await ProcessRunner.RunAsync("find", [".", "-maxdepth", "1", "-name", "caf?.bin", "-exec", "cat", "{}", "+"], mount.MountPoint);
        Assert.True(exitCode == 0, error);
        Assert.Equal("latin-1 name\n", Encoding.UTF8.GetString(output));
    }

    [FuseFact]
    public void Large_directories_are_listed_across_several_readdir_calls()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());

        string[] names = [.. Directory.EnumerateFiles(mount.PathOf("many")).Select(Path.GetFileName).Order()!];

        Assert.Equal(Enumerable.Range(0, 1000).Select(i => $"file-{i:D4}"), names);
        Assert.True(mount.FileSystem.PlusListings + mount.FileSystem.PlainListings > 1);
        Assert.Empty(mount.Exceptions);
    }

    [FuseFact]
    public async Task File_content_is_byte_equal_under_concurrent_random_reads()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());
        string path = mount.PathOf("big.bin");

        using (var handle = File.OpenHandle(path))
        {
            Task[] readers = [.. Enumerable.Range(0, 8).Select(seed => Task.Run(() =>
            {
                var random = new Random(seed);
                byte[] buffer = new byte[300 * 1024];
                for (int i = 0; i < 40; i++)
                {
                    long offset = random.NextInt64(0, BigSize);
                    int length = random.Next(1, (int)Math.Min(buffer.Length, BigSize - offset) + 1);
                    int total = 0;
                    while (total < length)
                    {
                        int read = RandomAccess.Read(handle, buffer.AsSpan(total, length - total), offset + total);
                        Assert.True(read > 0, $"Unexpected end of file at {offset + total}.");
                        total += read;
                    }

                    Assert.True(BigData.AsSpan((int)offset, length).SequenceEqual(buffer.AsSpan(0, length)), $"Mismatch reading {length} bytes at {offset}.");
                }
            }))];
            await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(120));
        }

        byte[] whole = await File.ReadAllBytesAsync(path);
        Assert.True(BigData.AsSpan().SequenceEqual(whole));
        Assert.Equal(DeepData, await File.ReadAllBytesAsync(mount.PathOf("dir/sub/deep.txt")));
        Assert.Empty(mount.Exceptions);
    }

    [FuseFact("stat")]
    public async Task Symlink_target_and_stat_fields_come_through()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());

        Assert.Equal("dir/sub/deep.txt", new FileInfo(mount.PathOf("link")).LinkTarget);
        Assert.Equal(DeepData, await File.ReadAllBytesAsync(mount.PathOf("link")));

        // %f raw mode (hex), %s size, %u uid, %g gid, %Y mtime seconds, %y full mtime, %h links.
        string stat = await ProcessRunner.RunTextAsync("stat", "-c", "%f|%s|%u|%g|%Y|%h", mount.PathOf("big.bin"));
        Assert.Equal($"81a4|{BigSize}|1234|5678|{InMemoryFileSystem.MTimeNs / 1_000_000_000}|1", stat);
        Assert.EndsWith(".123456789 +0000", await ProcessRunner.RunTextAsync("env", "TZ=UTC", "stat", "-c", "%y", mount.PathOf("big.bin")), StringComparison.Ordinal);
        Assert.Equal("a1ff", await ProcessRunner.RunTextAsync("stat", "-c", "%f", mount.PathOf("link")));
        Assert.Equal("41ed", await ProcessRunner.RunTextAsync("stat", "-c", "%f", mount.PathOf("dir")));

        var info = new FileInfo(mount.PathOf("big.bin"));
        Assert.Equal(BigSize, info.Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(info.FullName));
        Assert.Equal(DateTime.UnixEpoch.AddTicks(InMemoryFileSystem.MTimeNs / 100), info.LastWriteTimeUtc);

        // Hard links: one inode, link count 2.
        string first = await ProcessRunner.RunTextAsync("stat", "-c", "%i|%h", mount.PathOf("hard1"));
        string second = await ProcessRunner.RunTextAsync("stat", "-c", "%i|%h", mount.PathOf("dir/hard2"));
        Assert.Equal(first, second);
        Assert.EndsWith("|2", first, StringComparison.Ordinal);

        // statfs
        Assert.Equal("fuseblk|1000|4096|255", await ProcessRunner.RunTextAsync("stat", "-f", "-c", "%T|%b|%S|%l", mount.MountPoint));
        Assert.False(File.Exists(mount.PathOf("no-such-file")));
        Assert.Empty(mount.Exceptions);
    }

    [FuseFact("getfattr")]
    public async Task Extended_attributes_follow_the_size_probe_protocol()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());
        string big = mount.PathOf("big.bin");

        Assert.Equal("bar", await ProcessRunner.RunTextAsync("getfattr", "--only-values", "-n", "user.foo", big));
        Assert.Contains("user.foo=\"bar\"", await ProcessRunner.RunTextAsync("getfattr", "-d", big), StringComparison.Ordinal);

        (int exitCode, _, string error) = await ProcessRunner.RunAsync("getfattr", ["-n", "user.missing", big]);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("No such attribute", error, StringComparison.Ordinal);
        Assert.Empty(mount.Exceptions);
    }

    [FuseFact]
    public async Task Data_stored_into_a_listed_inode_is_read_without_a_request_and_an_unknown_inode_is_refused()
    {
        byte[] data = CreateData(10_000, seed: 9);
        int reads = 0;
        var fs = CreateSampleTree();
        ulong inode = fs.AddFile(InMemoryFileSystem.RootInode, "pushed.bin", data, (offset, size, reply) =>
        {
            Interlocked.Increment(ref reads);
            reply.Data(InMemoryFileSystem.Slice(data, offset, size));
        });
        using TestMount mount = TestMount.Start(fs, new FuseMountOptions { AlwaysReadDirPlus = true });

        Assert.Equal(Errno.ENOENT, mount.Mount.NotifyStore(inode, 0, data)); // not looked up or listed yet

        // Every listing call carries attributes, so the kernel holds every listed inode.
        Assert.Contains("pushed.bin", Directory.EnumerateFiles(mount.MountPoint).Select(Path.GetFileName));
        Assert.Equal(1000, Directory.EnumerateFiles(mount.PathOf("many")).Count());
        Assert.Equal(0, mount.FileSystem.PlainListings);

        Assert.Equal(0, mount.Mount.NotifyStore(inode, 0, data));
        Assert.Equal(data, await File.ReadAllBytesAsync(mount.PathOf("pushed.bin")));
        Assert.Equal(0, reads);
        Assert.Empty(mount.Exceptions);
    }

    [FuseFact]
    public async Task A_read_answered_later_from_another_thread_reaches_the_reader()
    {
        byte[] data = CreateData(64 * 1024, seed: 7);
        int callbackThread = 0;
        int replyThread = 0;
        var fs = CreateSampleTree();
        fs.AddFile(InMemoryFileSystem.RootInode, "slow.bin", data, (offset, size, reply) =>
        {
            callbackThread = Environment.CurrentManagedThreadId;
            _ = Task.Run(async () =>
            {
                await Task.Delay(300);
                replyThread = Environment.CurrentManagedThreadId;
                reply.Data(InMemoryFileSystem.Slice(data, offset, size));
            });
        });
        using TestMount mount = TestMount.Start(fs);

        var stopwatch = Stopwatch.StartNew();
        byte[] content = await File.ReadAllBytesAsync(mount.PathOf("slow.bin")).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(data, content);
        Assert.True(stopwatch.ElapsedMilliseconds >= 250, $"Read took only {stopwatch.ElapsedMilliseconds} ms.");
        Assert.NotEqual(0, replyThread);
        Assert.NotEqual(callbackThread, replyThread);
        Assert.Empty(mount.Exceptions);
    }

    [FuseFact]
    public async Task A_throwing_read_handler_gives_EIO_and_the_mount_survives()
    {
        var fs = CreateSampleTree();
        fs.AddFile(InMemoryFileSystem.RootInode, "throws.bin", new byte[100], (_, _, _) => throw new InvalidOperationException("boom"));
        fs.AddFile(InMemoryFileSystem.RootInode, "nullref.bin", new byte[100], (_, _, _) =>
        {
            string? nothing = Environment.GetEnvironmentVariable("CAIRN_SURELY_NOT_SET_" + Guid.NewGuid());
            _ = nothing!.Length; // a real NullReferenceException (SIGSEGV) on a libfuse worker thread
        });
        using TestMount mount = TestMount.Start(fs);

        IOException thrown = await Assert.ThrowsAsync<IOException>(() => File.ReadAllBytesAsync(mount.PathOf("throws.bin")));
        Assert.Contains("Input/output error", thrown.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<IOException>(() => File.ReadAllBytesAsync(mount.PathOf("nullref.bin")));

        Assert.Equal(DeepData, await File.ReadAllBytesAsync(mount.PathOf("dir/sub/deep.txt")));
        Assert.Contains(mount.Exceptions, e => e.Operation == "read" && e.Exception is InvalidOperationException { Message: "boom" });
        Assert.Contains(mount.Exceptions, e => e.Operation == "read" && e.Exception is NullReferenceException);
        Assert.True(mount.Mount.IsRunning);
    }

    [FuseFact]
    public async Task Replying_twice_or_too_much_is_caught_and_each_request_is_answered_once()
    {
        var misuse = new ConcurrentQueue<Exception>();
        var fs = CreateSampleTree();
        fs.AddFile(InMemoryFileSystem.RootInode, "twice.bin", DeepData, (offset, size, reply) =>
        {
            reply.Data(InMemoryFileSystem.Slice(DeepData, offset, size));
            try
            {
                reply.Error(Errno.EIO);
            }
            catch (InvalidOperationException exception)
            {
                misuse.Enqueue(exception);
            }
        });
        fs.AddFile(InMemoryFileSystem.RootInode, "toolong.bin", DeepData, (_, size, reply) =>
        {
            try
            {
                reply.Data(new byte[size + 1]);
            }
            catch (ArgumentOutOfRangeException exception)
            {
                misuse.Enqueue(exception);
            }
        });
        using TestMount mount = TestMount.Start(fs);

        Assert.Equal(DeepData, await File.ReadAllBytesAsync(mount.PathOf("twice.bin")));
        await Assert.ThrowsAsync<IOException>(() => File.ReadAllBytesAsync(mount.PathOf("toolong.bin")));

        // Each request is answered before the misuse throws to its handler (twice: the data; too long: EIO), so the
        // reader can be done before the handler has recorded the exception (it happened on a loaded CI run).
        Assert.True(SpinWait.SpinUntil(() => misuse.Any(e => e is InvalidOperationException), TimeSpan.FromSeconds(10)), "replying twice was not refused");
        Assert.True(SpinWait.SpinUntil(() => misuse.Any(e => e is ArgumentOutOfRangeException), TimeSpan.FromSeconds(10)), "a too-long reply was not refused");
        Assert.True(mount.Mount.IsRunning);
    }

    [FuseFact]
    public async Task Unmount_is_clean_when_idle_and_idempotent()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());
        Assert.Equal(DeepData, await File.ReadAllBytesAsync(mount.PathOf("dir/sub/deep.txt")));
        Assert.True(MountTable.IsFuseMount(mount.MountPoint));

        Assert.Equal(FuseUnmountResult.Unmounted, mount.Mount.Unmount());
        await mount.Mount.WaitAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(mount.Mount.IsRunning);
        Assert.False(MountTable.IsFuseMount(mount.MountPoint));
        Assert.Equal(FuseUnmountResult.Unmounted, mount.Mount.Unmount());
    }

    [FuseFact]
    public async Task Unmount_while_a_file_is_open_falls_back_to_a_lazy_unmount()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());
        using var stream = new FileStream(mount.PathOf("big.bin"), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        byte[] buffer = new byte[4096];
        stream.ReadExactly(buffer);

        Assert.Equal(FuseUnmountResult.LazilyUnmounted, mount.Mount.Unmount());
        await mount.Mount.WaitAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(MountTable.IsFuseMount(mount.MountPoint));
        stream.Position = 2 * 1024 * 1024; // not in the page cache: needs the (now gone) server
        Assert.Throws<IOException>(() => stream.Read(buffer));
        Assert.Equal(FuseUnmountResult.LazilyUnmounted, mount.Mount.Unmount());
    }

    [FuseFact]
    public async Task Reads_still_pending_at_unmount_are_failed_and_late_replies_are_ignored()
    {
        var pending = new TaskCompletionSource<FuseReadReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fs = CreateSampleTree();
        fs.AddFile(InMemoryFileSystem.RootInode, "never.bin", new byte[100], (_, _, reply) => pending.TrySetResult(reply));
        using TestMount mount = TestMount.Start(fs);

        Task<byte[]> reader = Task.Run(() => File.ReadAllBytes(mount.PathOf("never.bin")));
        FuseReadReply reply = await pending.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(FuseUnmountResult.LazilyUnmounted, mount.Mount.Unmount()); // the reader keeps the file open
        await Assert.ThrowsAsync<IOException>(() => reader.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(reply.Data(new byte[10]));
    }

    [FuseFact("fusermount3")]
    public async Task External_fusermount_unmount_ends_the_loop()
    {
        using TestMount mount = TestMount.Start(CreateSampleTree());
        Assert.Equal(DeepData, await File.ReadAllBytesAsync(mount.PathOf("dir/sub/deep.txt")));

        await ProcessRunner.RunTextAsync("fusermount3", "-u", mount.MountPoint);
        await mount.Mount.WaitAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(mount.Mount.IsRunning);
        Assert.Equal(FuseUnmountResult.AlreadyUnmounted, mount.Mount.Unmount());
    }

    [FuseFact("mksquashfs", "squashfuse")]
    public async Task CleanupStale_detaches_a_mount_whose_server_was_killed()
    {
        string root = Directory.CreateTempSubdirectory("cairn-fuse-stale-").FullName;
        string source = Path.Combine(root, "src");
        string image = Path.Combine(root, "image.squashfs");
        string mountPoint = Path.Combine(root, "mnt");
        Directory.CreateDirectory(source);
        Directory.CreateDirectory(mountPoint);
        await File.WriteAllTextAsync(Path.Combine(source, "a.txt"), "a");
        Process? server = null;
        try
        {
            await ProcessRunner.RunTextAsync("mksquashfs", source, image, "-quiet", "-noappend");
            server = Process.Start(new ProcessStartInfo("squashfuse", ["-f", image, mountPoint]) { UseShellExecute = false, RedirectStandardError = true })!;
            var deadline = Stopwatch.StartNew();
            while (!MountTable.IsFuseMount(mountPoint))
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "squashfuse did not mount.");
                Assert.False(server.HasExited, "squashfuse exited.");
                await Task.Delay(50);
            }

            Assert.Equal("a", await File.ReadAllTextAsync(Path.Combine(mountPoint, "a.txt")));
            Assert.False(FuseMount.CleanupStale(mountPoint)); // alive: left alone

            server.Kill();
            await server.WaitForExitAsync();
            Assert.True(MountTable.IsFuseMount(mountPoint)); // still mounted, but dead
            IOException dead = Assert.ThrowsAny<IOException>(() => Directory.GetFiles(mountPoint));
            Assert.Contains("not connected", dead.Message, StringComparison.Ordinal);

            Assert.True(FuseMount.CleanupStale(mountPoint));
            Assert.False(MountTable.IsFuseMount(mountPoint));
            Assert.False(FuseMount.CleanupStale(mountPoint));
            Assert.False(FuseMount.CleanupStale(root));
        }
        finally
        {
            if (server is { HasExited: false })
            {
                server.Kill();
                await server.WaitForExitAsync();
            }

            server?.Dispose();
            TestMount.RemoveDirectory(root, mountPoint);
        }
    }

    [FuseFact]
    public void Start_reports_bad_mount_points()
    {
        string root = Directory.CreateTempSubdirectory("cairn-fuse-bad-").FullName;
        try
        {
            Assert.Throws<DirectoryNotFoundException>(() => FuseMount.Start(Path.Combine(root, "missing"), CreateSampleTree()));
            Assert.Throws<ArgumentException>(() => FuseMount.Start(root, CreateSampleTree(), new FuseMountOptions { FsName = "a,b" }));
            Assert.Throws<ArgumentOutOfRangeException>(() => FuseMount.Start(root, CreateSampleTree(), new FuseMountOptions { MaxReadKiB = 2048 }));
            Assert.False(MountTable.IsFuseMount(root));
        }
        finally
        {
            TestMount.RemoveDirectory(root, root);
        }
    }

    private static InMemoryFileSystem CreateSampleTree()
    {
        var fs = new InMemoryFileSystem();
        const ulong root = InMemoryFileSystem.RootInode;
        ulong dir = fs.AddDirectory(root, "dir");
        ulong sub = fs.AddDirectory(dir, "sub");
        fs.AddFile(sub, "deep.txt", DeepData);
        ulong big = fs.AddFile(root, "big.bin", BigData);
        fs.SetXattr(big, "user.foo", "bar"u8.ToArray());
        fs.AddFile(root, Latin1Name, "latin-1 name\n"u8.ToArray());
        fs.AddSymlink(root, "link", "dir/sub/deep.txt");
        ulong hard = fs.AddFile(root, "hard1", "shared\n"u8.ToArray());
        fs.AddHardLink(dir, "hard2", hard);
        ulong many = fs.AddDirectory(root, "many");
        for (int i = 0; i < 1000; i++)
        {
            fs.AddFile(many, $"file-{i:D4}", []);
        }

        return fs;
    }

    private static byte[] CreateData(int size, int seed)
    {
        byte[] data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static IEnumerable<byte[]> Split(byte[] nulSeparated)
    {
        int start = 0;
        for (int i = 0; i < nulSeparated.Length; i++)
        {
            if (nulSeparated[i] == 0)
            {
                yield return nulSeparated[start..i];
                start = i + 1;
            }
        }
    }
}
