using Cairn.Format;
using Cairn.Native;

namespace Cairn.Cli;

/// <summary>
/// Start-up work taken off the critical path: on a background thread, load the native code a command is about to need
/// (libzstd, libfuse3 for mounts, OpenSSL behind SHA-256) while the main thread parses the command line and reads the
/// repository. From a cold page cache loading them takes milliseconds of disk reads (libcrypto alone is 4.7 MB):
/// `cairn mount` answered in 0.060 s with this and 0.065 s without (bench/builds.sh, 7 rounds each; the run without
/// went through a wrapper script, which costs it a little).
/// </summary>
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
        s_thread = new Thread(() => Run(fuse)) { IsBackground = true, Name = "cairn-warm-up" };
        s_thread.Start();
    }

    /// <summary>
    /// Waits for the loads to end before the process exits: exit() running OpenSSL's clean-up while this thread is
    /// still inside its initialisation is a race no command should be able to lose. A command that used the libraries
    /// waited for them anyway; a quick one (a usage error) waits a few milliseconds.
    /// </summary>
    public static void Finish() => s_thread?.Join(TimeSpan.FromSeconds(10));

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
