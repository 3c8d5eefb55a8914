using System.Runtime.InteropServices;
using Cairn.Native.Fuse;
using Cairn.Native.Hashing;
using Cairn.Native.Zstd;

namespace Cairn.Native;

/// <summary>The Debian libraries Cairn binds, loaded ahead of their first call.</summary>
public static class NativeLibraries
{
    /// <summary>
    /// Loads libnettle, libzstd and, with <paramref name="fuse"/>, libfuse3, in the order a command first calls them,
    /// so that no first call pays for the load. From a cold page cache each load is milliseconds of disk reads; done on
    /// a thread of its own at start-up, it overlaps the reads of the repository instead of following them. A library
    /// that is missing is left to its first call, which reports it.
    /// </summary>
    public static void Preload(bool fuse)
    {
        NativeLibrary.TryLoad(NettleNative.Library, out _);
        NativeLibrary.TryLoad(ZstdNative.Library, out _);
        if (fuse)
        {
            NativeLibrary.TryLoad(FuseNative.Library, out _);
        }
    }
}
