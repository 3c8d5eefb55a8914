using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;
using Cairn.Snapshot;

namespace Cairn.Mount;

/// <summary>
/// The overlay of a writable mount: mounting it (kernel overlayfs through mount(2), or a fuse-overlayfs process),
/// unmounting it, and finding a Cairn overlay from its mount point, through /proc/self/mountinfo (the kernel's
/// <c>upperdir</c> option) or, for fuse-overlayfs, whose mount table entry has no options, its command line.
/// </summary>
[SupportedOSPlatform("linux")]
public static class OverlayLayer
{
    private const string FuseOverlayfs = "fuse-overlayfs";

    /// <summary>
    /// Mounts the overlay at <paramref name="mountPoint"/>. Kernel overlayfs gets <c>redirect_dir=off</c> (renaming a
    /// lower directory copies it up whole), <c>index=off</c> and <c>metacopy=off</c> (a copied-up file holds its
    /// data): so the upper directory alone describes the change. fuse-overlayfs behaves that way by itself.
    /// </summary>
    public static void Mount(OverlayFlavor flavor, OverlayDirectory directory, string mountPoint, string source)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var layers = $"lowerdir={Escape(directory.Lower)},upperdir={Escape(directory.Upper)},workdir={Escape(directory.Work)}";
        if (flavor == OverlayFlavor.Kernel)
        {
            try
            {
                LinuxMount.Mount(source, mountPoint, "overlay", layers + ",redirect_dir=off,index=off,metacopy=off");
            }
            catch (LinuxIOException e)
            {
                throw new CairnException($"cannot mount the overlay at '{mountPoint}': {e.Message}{(e.Errno == Errno.EPERM ? " (kernel overlayfs needs root; try --overlay fuse)" : "")}");
            }

            return;
        }

        // Without -f it daemonizes once the mount is up, so its exit status says whether mounting worked.
        var fuse = FindFuseOverlayfs();
        var info = new ProcessStartInfo(fuse) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add("-o");
        info.ArgumentList.Add(layers);
        info.ArgumentList.Add(mountPoint);
        using var process = Process.Start(info) ?? throw new CairnException("cannot start fuse-overlayfs");
        var errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            var message = errors.GetAwaiter().GetResult().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            throw new CairnException($"fuse-overlayfs could not mount '{mountPoint}' (exit code {process.ExitCode}){(message is null ? "" : ": " + message)}");
        }
    }

    /// <summary>The fuse-overlayfs program on PATH.</summary>
    /// <exception cref="UsageException">It is not installed.</exception>
    public static string FindFuseOverlayfs()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, FuseOverlayfs);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new UsageException("fuse-overlayfs is not installed (Debian: apt-get install fuse-overlayfs); writable mounts need it without root or with --overlay fuse");
    }

    /// <summary>Unmounts the overlay at <paramref name="mountPoint"/>: a regular unmount, else (busy) a lazy one.</summary>
    public static FuseUnmountResult Unmount(OverlayFlavor flavor, string mountPoint)
    {
        if (flavor == OverlayFlavor.FuseOverlayfs)
        {
            return FuseMount.UnmountPath(mountPoint); // fuse-overlayfs sees its session end and exits
        }

        if (MountTable.Find(mountPoint) is not { Type: "overlay" })
        {
            return FuseUnmountResult.AlreadyUnmounted;
        }

        if (LinuxMount.TryUnmount(mountPoint) == 0)
        {
            return FuseUnmountResult.Unmounted;
        }

        LinuxMount.UnmountLazily(mountPoint);
        return FuseUnmountResult.LazilyUnmounted;
    }

    /// <summary>
    /// The Cairn writable mount at <paramref name="mountPoint"/>: its state, and the mount table entry of the overlay;
    /// null if the topmost mount there is not an overlay whose upper directory has an <c>overlay.json</c>.
    /// </summary>
    public static (OverlayState State, MountInfo Overlay)? Find(string mountPoint)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        var entry = MountTable.Find(full);
        var upper = entry switch
        {
            { Type: "overlay" } => entry.Option("upperdir") is { } given ? Unescape(given) : null,
            { Type: "fuse.fuse-overlayfs" } => FuseOverlayfsUpper(full),
            _ => null,
        };
        if (upper is null)
        {
            return null;
        }

        var state = OverlayState.TryRead(OverlayDirectory.OfUpper(upper));
        return state is not null && state.Upper == upper ? (state, entry!) : null;
    }

    /// <summary>
    /// If <paramref name="mountPoint"/> holds a Cairn overlay whose snapshot server died (its lower mount answers
    /// ENOTCONN), detaches the overlay and then the lower mount, and returns true.
    /// </summary>
    public static bool CleanupStale(string mountPoint)
    {
        if (Find(mountPoint) is not var (state, _) || !FuseMount.IsStale(state.Lower))
        {
            return false;
        }

        if (state.Flavor == OverlayFlavor.Kernel)
        {
            LinuxMount.UnmountLazily(mountPoint);
        }
        else
        {
            FuseMount.UnmountPath(mountPoint);
        }

        FuseMount.CleanupStale(state.Lower);
        return true;
    }

    /// <summary>The upperdir option of the fuse-overlayfs process serving <paramref name="mountPoint"/> (its last argument), from /proc/PID/cmdline.</summary>
    private static string? FuseOverlayfsUpper(string mountPoint)
    {
        foreach (var process in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(process), out _))
            {
                continue;
            }

            string[] arguments;
            try
            {
                arguments = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(process, "cmdline"))).TrimEnd('\0').Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone, or not ours to read
            }

            if (arguments.Length < 3 || Path.GetFileName(arguments[0]) != FuseOverlayfs || arguments[^1] != mountPoint)
            {
                continue;
            }

            for (var i = 1; i < arguments.Length - 1; i++)
            {
                var options = arguments[i] == "-o" ? arguments[i + 1] : arguments[i].StartsWith("-o", StringComparison.Ordinal) ? arguments[i][2..] : null;
                if (options is not null && SplitOptions(options).FirstOrDefault(o => o.StartsWith("upperdir=", StringComparison.Ordinal)) is { } upper)
                {
                    return upper["upperdir=".Length..];
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Refuses layers fuse-overlayfs cannot be given: it splits its lowerdir and upperdir options at every ':' and
    /// takes no escape there (1.10: libfuse's option parser has already removed the '\' of a '\:'). Kernel overlayfs
    /// takes '\:'. Without this, fuse-overlayfs failed with "cannot read lower dirs".
    /// </summary>
    /// <exception cref="UsageException">The layers' path holds a ':' and the overlay is fuse-overlayfs.</exception>
    public static void CheckPaths(OverlayFlavor flavor, OverlayDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (flavor == OverlayFlavor.FuseOverlayfs && directory.Path.Contains(':', StringComparison.Ordinal))
        {
            throw new UsageException($"fuse-overlayfs cannot keep its layers in '{directory.Path}': it splits layer paths at ':'; give --upper a path without ':'{(LinuxFile.IsRoot ? " or use --overlay kernel" : "")}");
        }
    }

    /// <summary>
    /// '\' escapes the next character in a layer option's value: kernel overlayfs reads ',' as the end of the option
    /// and ':' as the end of a lower layer otherwise; libfuse, which parses fuse-overlayfs's -o, does the same for ','.
    /// </summary>
    private static string Escape(string path) => path.Replace(@"\", @"\\", StringComparison.Ordinal).Replace(",", @"\,", StringComparison.Ordinal).Replace(":", @"\:", StringComparison.Ordinal);

    /// <summary>
    /// A layer path as kernel overlayfs reads it from an option's value (ovl_unescape): '\' takes the next character
    /// as it is, a '\' at the end is dropped. The mount table shows upperdir as it was given to the kernel, escapes
    /// and all (under the mount table's own octal escapes, which <see cref="MountInfo.Option"/> removes): without this,
    /// an upper path with ',' or ':' read back as "up\,a\:b" and the mount was not found.
    /// </summary>
    private static string Unescape(string value)
    {
        var path = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '\\' && ++i == value.Length)
            {
                break;
            }

            path.Append(value[i]);
        }

        return path.ToString();
    }

    private static IEnumerable<string> SplitOptions(string options)
    {
        var current = new StringBuilder();
        for (var i = 0; i < options.Length; i++)
        {
            if (options[i] == '\\' && i + 1 < options.Length)
            {
                current.Append(options[++i]);
            }
            else if (options[i] == ',')
            {
                yield return current.ToString();
                current.Clear();
            }
            else
            {
                current.Append(options[i]);
            }
        }

        yield return current.ToString();
    }
}
