using LinuxErrno = Cairn.Native.Linux.Errno;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cairn.Native.Fuse;

/// <summary>
/// The fuse_lowlevel_ops callbacks. Each one finds its session's dispatcher through the GCHandle passed to
/// fuse_session_new as userdata, calls the <see cref="IFuseFileSystem"/>, and sends exactly one reply; no
/// exception ever unwinds into libfuse (it is reported and answered with EIO).
/// </summary>
internal sealed unsafe class FuseDispatcher(IFuseFileSystem fileSystem, FuseMountOptions options)
{
    private const int EIO = LinuxErrno.EIO;
    private const int MaxLinkLength = 4095;

    [ThreadStatic]
    private static bool t_isWorkerThread;

    internal IFuseFileSystem FileSystem { get; } = fileSystem;

    internal FuseMountOptions Options { get; } = options;

    internal ReadReplyPool Replies { get; } = new();

    internal TaskCompletionSource Initialized { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set on libfuse worker threads once they have served a request.</summary>
    internal static bool IsWorkerThread => t_isWorkerThread;

    internal static FuseLowLevelOps CreateOperations() => new()
    {
        Init = &OnInit,
        Lookup = &OnLookup,
        Forget = &OnForget,
        GetAttr = &OnGetAttr,
        ReadLink = &OnReadLink,
        Open = &OnOpen,
        Read = &OnRead,
        Release = &OnRelease,
        OpenDir = &OnOpenDir,
        ReadDir = &OnReadDir,
        ReleaseDir = &OnReleaseDir,
        StatFs = &OnStatFs,
        GetXattr = &OnGetXattr,
        ListXattr = &OnListXattr,
        ForgetMulti = &OnForgetMulti,
        ReadDirPlus = &OnReadDirPlus,
        Lseek = &OnLseek,
    };

    internal void Report(string operation, Exception exception)
    {
        try
        {
            if (Options.OnException is { } log)
            {
                log(operation, exception);
            }
            else
            {
                Console.Error.WriteLine($"cairn fuse: {operation} failed: {exception}");
            }
        }
#pragma warning disable CA1031 // The logger itself must not break the reply path.
        catch
        {
        }
#pragma warning restore CA1031
    }

    private static FuseDispatcher From(nint request)
    {
        t_isWorkerThread = true;
        return (FuseDispatcher)GCHandle.FromIntPtr(FuseNative.fuse_req_userdata(request)).Target!;
    }

    /// <summary>Reports the failure (if the dispatcher is known) and returns EIO.</summary>
    private static int Fail(FuseDispatcher? dispatcher, string operation, Exception exception)
    {
        if (dispatcher is null)
        {
            Console.Error.WriteLine($"cairn fuse: {operation} failed before reaching the file system: {exception}");
        }
        else
        {
            dispatcher.Report(operation, exception);
        }

        return EIO;
    }

    /// <summary>A handler's error code, or EIO (reported) if it is not a valid positive errno.</summary>
    private static int Errno(FuseDispatcher dispatcher, string operation, int error)
    {
        if (error is > 0 and < 1000)
        {
            return error;
        }

        dispatcher.Report(operation, new InvalidOperationException($"{operation} returned {error}, which is not a positive errno."));
        return EIO;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnInit(nint userdata, FuseConnInfo* connection)
    {
        FuseDispatcher? dispatcher = null;
        try
        {
            dispatcher = (FuseDispatcher)GCHandle.FromIntPtr(userdata).Target!;
            uint maxRead = (uint)dispatcher.Options.MaxReadKiB * 1024;

            // Must equal the max_read mount option, or libfuse fails INIT with EPROTO.
            connection->MaxRead = maxRead;

            // libfuse derives max_pages (the largest request the kernel builds) from max_write, and sizes its
            // per-thread receive buffers from it; it has already capped max_write at its 1 MiB buffer.
            connection->MaxWrite = Math.Min(connection->MaxWrite, Math.Max(maxRead, 4096u));

            // max_readahead can only be lowered: the kernel offers its block-device readahead (128 KiB unless
            // /sys/class/bdi/<dev>/read_ahead_kb is raised) and libfuse pre-clamps to that offer. Keep the offer.
            connection->MaxBackground = Math.Max(connection->MaxBackground, 64);
            connection->CongestionThreshold = Math.Max(connection->CongestionThreshold, 48);

            // Replies come from memory (no splice), data is immutable (no auto invalidation, no writeback).
            // readdirplus (+auto) and async reads are libfuse defaults, auto off when every listing must carry
            // attributes (AlwaysReadDirPlus); symlink targets are immutable, so cache them.
            const uint off = FuseNative.CapSpliceRead | FuseNative.CapSpliceWrite | FuseNative.CapSpliceMove
                | FuseNative.CapAutoInvalData | FuseNative.CapWritebackCache | FuseNative.CapExportSupport;
            const uint on = FuseNative.CapAsyncRead | FuseNative.CapReaddirplus
                | FuseNative.CapParallelDirops | FuseNative.CapCacheSymlinks;
            var auto = dispatcher.Options.AlwaysReadDirPlus ? 0 : FuseNative.CapReaddirplusAuto;
            connection->Want = ((connection->Want & ~(off | FuseNative.CapReaddirplusAuto)) | on | auto) & connection->Capable;

            dispatcher.Initialized.TrySetResult();
        }
        catch (Exception exception)
        {
            Fail(dispatcher, "init", exception);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLookup(nint request, ulong parent, byte* name)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.Lookup(parent, MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name), out FuseEntry entry);
            FuseEntryParam param;
            if (error == 0)
            {
                FuseConvert.ToEntryParam(entry, &param);
                _ = FuseNative.fuse_reply_entry(request, &param);
                return;
            }

            if (error == LinuxErrno.ENOENT && FuseConvert.Timeout(entry.EntryTimeoutSeconds) > 0)
            {
                // Inode 0 with an entry timeout: the kernel caches the negative lookup.
                param = default;
                param.EntryTimeout = FuseConvert.Timeout(entry.EntryTimeoutSeconds);
                _ = FuseNative.fuse_reply_entry(request, &param);
                return;
            }

            error = Errno(dispatcher, "lookup", error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "lookup", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnForget(nint request, ulong inode, ulong lookupCount)
    {
        FuseDispatcher? dispatcher = null;
        try
        {
            dispatcher = From(request);
            dispatcher.FileSystem.Forget(inode, lookupCount);
        }
        catch (Exception exception)
        {
            Fail(dispatcher, "forget", exception);
        }
        finally
        {
            FuseNative.fuse_reply_none(request);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnForgetMulti(nint request, nuint count, FuseForgetData* forgets)
    {
        FuseDispatcher? dispatcher = null;
        try
        {
            dispatcher = From(request);
            for (nuint i = 0; i < count; i++)
            {
                dispatcher.FileSystem.Forget(forgets[i].Ino, forgets[i].NLookup);
            }
        }
        catch (Exception exception)
        {
            Fail(dispatcher, "forget", exception);
        }
        finally
        {
            FuseNative.fuse_reply_none(request);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnGetAttr(nint request, ulong inode, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.GetAttr(inode, out FuseAttr attr, out double timeout);
            if (error == 0)
            {
                NativeStat stat;
                FuseConvert.ToStat(attr, &stat);
                _ = FuseNative.fuse_reply_attr(request, &stat, FuseConvert.Timeout(timeout));
                return;
            }

            error = Errno(dispatcher, "getattr", error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "getattr", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadLink(nint request, ulong inode)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.ReadLink(inode, out ReadOnlySpan<byte> target);
            if (error == 0)
            {
                if (target.IsEmpty || target.Length > MaxLinkLength || target.Contains((byte)0))
                {
                    throw new InvalidOperationException($"ReadLink returned an invalid target ({target.Length} bytes, empty, too long or containing NUL).");
                }

                byte* cTarget = stackalloc byte[MaxLinkLength + 1];
                target.CopyTo(new Span<byte>(cTarget, MaxLinkLength));
                cTarget[target.Length] = 0;
                _ = FuseNative.fuse_reply_readlink(request, cTarget);
                return;
            }

            error = Errno(dispatcher, "readlink", error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "readlink", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOpen(nint request, ulong inode, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            const int accessModeMask = 3; // O_ACCMODE; O_RDONLY is 0
            if ((fileInfo->Flags & accessModeMask) != 0)
            {
                error = LinuxErrno.EROFS;
            }
            else
            {
                error = dispatcher.FileSystem.Open(inode, out ulong handle, out bool keepCache);
                if (error == 0)
                {
                    fileInfo->Fh = handle;

                    // Nothing to flush on a read-only file system. Without FLUSH a close never waits for this
                    // server, so a process that exits with files open on its own (dead) mount cannot hang in exit.
                    fileInfo->Bits |= FuseFileInfo.NoFlush;
                    if (keepCache)
                    {
                        fileInfo->Bits |= FuseFileInfo.KeepCache;
                    }

                    _ = FuseNative.fuse_reply_open(request, fileInfo);
                    return;
                }

                error = Errno(dispatcher, "open", error);
            }
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "open", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRead(nint request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        FuseReadReply reply = default;
        try
        {
            dispatcher = From(request);
            int length = (int)Math.Min(size, int.MaxValue);
            reply = dispatcher.Replies.Rent(request, length);
            dispatcher.FileSystem.Read(inode, fileInfo->Fh, offset, length, reply);
        }
        catch (Exception exception)
        {
            Fail(dispatcher, "read", exception);
            if (reply.IsValid)
            {
                // No-op if the handler answered before throwing.
                reply.FailFromLayer(EIO);
            }
            else
            {
                _ = FuseNative.fuse_reply_err(request, EIO);
            }
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRelease(nint request, ulong inode, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        try
        {
            dispatcher = From(request);
            dispatcher.FileSystem.Release(inode, fileInfo->Fh);
        }
        catch (Exception exception)
        {
            Fail(dispatcher, "release", exception);
        }

        // The kernel ignores release errors; the handle is gone either way.
        _ = FuseNative.fuse_reply_err(request, 0);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOpenDir(nint request, ulong inode, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.OpenDir(inode, out ulong handle, out bool cacheEntries);
            if (error == 0)
            {
                fileInfo->Fh = handle;
                if (cacheEntries)
                {
                    fileInfo->Bits |= FuseFileInfo.CacheReaddir | FuseFileInfo.KeepCache;
                }

                _ = FuseNative.fuse_reply_open(request, fileInfo);
                return;
            }

            error = Errno(dispatcher, "opendir", error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "opendir", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadDir(nint request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
        => ReadDirectory(request, inode, size, offset, fileInfo, plus: false);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadDirPlus(nint request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
        => ReadDirectory(request, inode, size, offset, fileInfo, plus: true);

    private static void ReadDirectory(nint request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo, bool plus)
    {
        string operation = plus ? "readdirplus" : "readdir";
        FuseDispatcher? dispatcher = null;
        byte[]? buffer = null;
        int error;
        try
        {
            dispatcher = From(request);
            int capacity = (int)Math.Min(size, 1u << 20);
            buffer = ArrayPool<byte>.Shared.Rent(capacity);
            fixed (byte* p = buffer)
            {
                var writer = new FuseDirectoryWriter(request, p, capacity, plus);
                error = dispatcher.FileSystem.ReadDirectory(inode, fileInfo->Fh, offset, ref writer);
                if (error == 0)
                {
                    _ = FuseNative.fuse_reply_buf(request, p, (nuint)writer.BytesWritten);
                    return;
                }
            }

            error = Errno(dispatcher, operation, error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, operation, exception);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReleaseDir(nint request, ulong inode, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        try
        {
            dispatcher = From(request);
            dispatcher.FileSystem.ReleaseDir(inode, fileInfo->Fh);
        }
        catch (Exception exception)
        {
            Fail(dispatcher, "releasedir", exception);
        }

        _ = FuseNative.fuse_reply_err(request, 0);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnStatFs(nint request, ulong inode)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.StatFs(out FuseStatFs stats);
            if (error == 0)
            {
                NativeStatVfs native = default;
                native.BlockSize = stats.BlockSize;
                native.FragmentSize = stats.FragmentSize;
                native.Blocks = stats.Blocks;
                native.BlocksFree = stats.BlocksFree;
                native.BlocksAvailable = stats.BlocksAvailable;
                native.Files = stats.Files;
                native.FilesFree = stats.FilesFree;
                native.FilesAvailable = stats.FilesFree;
                native.NameMax = stats.NameMax;
                _ = FuseNative.fuse_reply_statfs(request, &native);
                return;
            }

            error = Errno(dispatcher, "statfs", error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "statfs", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnGetXattr(nint request, ulong inode, byte* name, nuint size)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.GetXattr(inode, MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name), out ReadOnlySpan<byte> value);
            if (error == 0)
            {
                error = ReplyXattr(request, value, size);
                if (error == 0)
                {
                    return;
                }
            }
            else
            {
                error = Errno(dispatcher, "getxattr", error);
            }
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "getxattr", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnListXattr(nint request, ulong inode, nuint size)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.ListXattr(inode, out ReadOnlySpan<byte> names);
            if (error == 0)
            {
                error = ReplyXattr(request, names, size);
                if (error == 0)
                {
                    return;
                }
            }
            else
            {
                error = Errno(dispatcher, "listxattr", error);
            }
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "listxattr", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLseek(nint request, ulong inode, long offset, int whence, FuseFileInfo* fileInfo)
    {
        FuseDispatcher? dispatcher = null;
        int error;
        try
        {
            dispatcher = From(request);
            error = dispatcher.FileSystem.Seek(inode, fileInfo->Fh, offset, (FuseSeekWhence)whence, out long position);
            if (error == 0)
            {
                if (position < 0)
                {
                    throw new InvalidOperationException($"Seek returned offset {position}.");
                }

                _ = FuseNative.fuse_reply_lseek(request, position);
                return;
            }

            error = Errno(dispatcher, "lseek", error);
        }
        catch (Exception exception)
        {
            error = Fail(dispatcher, "lseek", exception);
        }

        _ = FuseNative.fuse_reply_err(request, error);
    }

    /// <summary>The getxattr/listxattr size protocol: size 0 asks for the length, a too-small buffer gets ERANGE. Returns 0 once replied.</summary>
    private static int ReplyXattr(nint request, ReadOnlySpan<byte> value, nuint size)
    {
        if (size == 0)
        {
            _ = FuseNative.fuse_reply_xattr(request, (nuint)value.Length);
            return 0;
        }

        if ((nuint)value.Length > size)
        {
            return LinuxErrno.ERANGE;
        }

        fixed (byte* p = value)
        {
            _ = FuseNative.fuse_reply_buf(request, p, (nuint)value.Length);
        }

        return 0;
    }
}
