using System.Runtime.InteropServices;
using Cairn.Native.Fuse;
using Cairn.Native.Zstd;

namespace Cairn.Native;

/// <summary>The Debian libraries Cairn binds, loaded ahead of their first call.</summary>
public static class NativeLibraries
{
    /// <summary>
    /// Loads libzstd and, with <paramref name="fuse"/>, libfuse3, so their first call does not pay for it. From a cold
    /// page cache each load is milliseconds of disk reads; done on a thread of its own at start-up, it overlaps the
    /// reads of the repository instead of following them. A library that is missing is left to its first call, which
    /// reports it.
    /// </summary>
    public static void Preload(bool fuse)
    {
        NativeLibrary.TryLoad(ZstdNative.Library, out _);
        if (fuse)
        {
            NativeLibrary.TryLoad(FuseNative.Library, out _);
        }
    }
}
