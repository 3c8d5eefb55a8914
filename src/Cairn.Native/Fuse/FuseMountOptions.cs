namespace Cairn.Native.Fuse;

/// <summary>Mount and session options for <see cref="FuseMount.Start"/>.</summary>
public sealed record FuseMountOptions
{
    /// <summary>Source shown in /proc/mounts and df (fsname=).</summary>
    public string FsName { get; init; } = "cairn";

    /// <summary>File-system subtype; the type shows as fuse.&lt;subtype&gt; (subtype=).</summary>
    public string Subtype { get; init; } = "cairn";

    /// <summary>Let users other than the mounting one access the mount (allow_other; non-root needs user_allow_other in /etc/fuse.conf).</summary>
    public bool AllowOther { get; init; }

    /// <summary>Mount read-only (ro). Writes are refused by the layer either way.</summary>
    public bool ReadOnly { get; init; } = true;

    /// <summary>Upper bound of libfuse worker threads (fuse_loop_cfg_set_max_threads), 1 to 256.</summary>
    public int MaxThreads { get; init; } = 16;

    /// <summary>Largest read request in KiB (max_read, and max_pages through max_write), 4 to 1024.</summary>
    public int MaxReadKiB { get; init; } = 1024;

    /// <summary>Let the kernel check permissions from the mode/uid/gid (default_permissions).</summary>
    public bool DefaultPermissions { get; init; } = true;

    /// <summary>
    /// Every listing carries the entries' attributes (readdirplus), instead of the kernel choosing per listing
    /// (readdirplus_auto: plain readdir unless the caller stats what it lists). Then every listed file is an inode the
    /// kernel holds, which <see cref="FuseMount.NotifyStore"/> needs.
    /// </summary>
    public bool AlwaysReadDirPlus { get; init; }

    /// <summary>libfuse debug output (-d): every request is logged through <see cref="FuseMount.LibraryLog"/>.</summary>
    public bool Debug { get; init; }

    /// <summary>How long <see cref="FuseMount.Start"/> waits for the kernel's INIT request to be answered.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <see cref="FuseMount.Unmount"/> waits for the session loop to end.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Called with the operation name when a file-system handler throws (the request is answered with EIO) or
    /// returns an invalid errno. Runs on a libfuse worker thread. Default: a line on standard error.
    /// </summary>
    public Action<string, Exception>? OnException { get; init; }

    internal void Validate()
    {
        ValidateName(FsName, nameof(FsName));
        ValidateName(Subtype, nameof(Subtype));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxThreads, 1, nameof(MaxThreads));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxThreads, 256, nameof(MaxThreads));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReadKiB, 4, nameof(MaxReadKiB));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxReadKiB, 1024, nameof(MaxReadKiB));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(StartTimeout, TimeSpan.Zero, nameof(StartTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ShutdownTimeout, TimeSpan.Zero, nameof(ShutdownTimeout));
    }

    /// <summary>The -o option list passed to fuse_session_new.</summary>
    internal string ToMountOptionList()
    {
        var options = new List<string>();
        if (ReadOnly)
        {
            options.Add("ro");
        }

        // A snapshot browser never needs set-uid programs or device nodes to take effect.
        options.Add("nosuid");
        options.Add("nodev");
        options.Add("fsname=" + FsName);
        options.Add("subtype=" + Subtype);
        if (DefaultPermissions)
        {
            options.Add("default_permissions");
        }

        if (AllowOther)
        {
            options.Add("allow_other");
        }

        options.Add($"max_read={MaxReadKiB * 1024}");
        return string.Join(',', options);
    }

    private static void ValidateName(string value, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, name);
        foreach (char c in value)
        {
            if (c <= ' ' || c is ',' or '\\' or '=' || char.IsControl(c))
            {
                throw new ArgumentException($"{name} cannot contain whitespace, control characters, ',', '=' or '\\'.", name);
            }
        }
    }
}
