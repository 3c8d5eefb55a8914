using Cairn.Format;
using Cairn.Native;

namespace Cairn.Cli;

/// <summary>
/// Start-up work taken off the critical path: on a background thread, load the native code a command is about to need
/// (libzstd, libfuse3 for mounts, OpenSSL behind SHA-256) while the main thread parses the command line and reads the
/// repository. From a cold page cache, loading OpenSSL alone (libcrypto is ~5 MB) took ~10 ms that `cairn mount`
/// otherwise spent between reading the snapshot and answering.
/// </summary>
internal static class WarmUp
{
    public static void Start(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "-?" or "--version" || args.Contains("--help") || args.Contains("-h"))
        {
            return; // nothing native ahead
        }

        var fuse = args.Contains("mount");
        new Thread(() => Run(fuse)) { IsBackground = true, Name = "cairn-warm-up" }.Start();
    }

    private static void Run(bool fuse)
    {
#pragma warning disable CA1031 // Only a head start: whatever fails here fails again, and is reported, where it is used.
        try
        {
            _ = ContentId.Hash([]);
            NativeLibraries.Preload(fuse);
        }
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }
}
