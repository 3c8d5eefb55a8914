using Cairn.Native;

namespace Cairn.Cli;

/// <summary>
/// Start-up work taken off the critical path: on a background thread, load the native code a command is about to need
/// (libnettle for SHA-256, libzstd, libfuse3 for mounts, and OpenSSL when the repository is on S3) while the main
/// thread parses the command line and reads the repository.
/// </summary>
/// <remarks>
/// OpenSSL is warmed only for S3, whose request signing and TLS need it: loading libcrypto and initialising OpenSSL 3
/// takes ~12 ms from a cold page cache, and for a local repository it would only compete with the main thread for the
/// disk and with the manifest's decoding for the second core.
/// </remarks>
internal static class WarmUp
{
    private static Thread? s_thread;

    public static void Start(string[] args)
    {
        if (args.Length == 0 || args.Any(a => a is "--help" or "-h" or "-?" or "--version" or "umount"))
        {
            return; // nothing native ahead (umount only unmounts)
        }

        var fuse = args.Contains("mount");
        // Only a guess from the arguments (an s3:// location in --repo or CAIRN_REPO), as is fine for a head start.
        var s3 = args.Any(a => a.Contains("s3://", StringComparison.OrdinalIgnoreCase))
            || Environment.GetEnvironmentVariable("CAIRN_REPO")?.StartsWith("s3://", StringComparison.OrdinalIgnoreCase) == true;
        s_thread = new Thread(() => Run(fuse, s3)) { IsBackground = true, Name = "cairn-warm-up" };
        s_thread.Start();
    }

    /// <summary>
    /// Waits for the loads to end before the process exits: exit() running OpenSSL's clean-up while this thread is
    /// still inside its initialisation is a race no command should be able to lose. A command that used the libraries
    /// waited for them anyway; a quick one (a usage error) waits a few milliseconds.
    /// </summary>
    public static void Finish() => s_thread?.Join(TimeSpan.FromSeconds(10));

    private static void Run(bool fuse, bool s3)
    {
#pragma warning disable CA1031 // Only a head start: whatever fails here fails again, and is reported, where it is used.
        try
        {
            NativeLibraries.Preload(fuse);
            if (s3)
            {
                _ = System.Security.Cryptography.SHA256.HashData([]);
            }
        }
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }
}
