using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Cairn.Native.Fuse;
using Cairn.Tests.Support;

namespace Cairn.Tests.Fuse;

/// <summary>A fact that needs a real FUSE mount: skipped (not failed) where /dev/fuse or a required tool is missing.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FuseFactAttribute : FactAttribute
{
    public FuseFactAttribute(params string[] requiredTools)
    {
        RequiredTools = requiredTools;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            Skip = "FUSE tests need linux-x64.";
        }
        else if (!File.Exists("/dev/fuse"))
        {
            Skip = "FUSE tests need /dev/fuse.";
        }
        else if (!Environment.IsPrivilegedProcess && ProcessRunner.FindTool("fusermount3") is null)
        {
            Skip = "FUSE tests need root or fusermount3.";
        }
        else if (requiredTools.FirstOrDefault(t => ProcessRunner.FindTool(t) is null) is { } missing)
        {
            Skip = $"This FUSE test needs '{missing}' on PATH.";
        }
    }

    public IReadOnlyList<string> RequiredTools { get; }

    /// <summary>Skips the test unless it runs as root (kernel overlayfs, mounting a tmpfs).</summary>
    public bool NeedsRoot
    {
        get => field;
        set
        {
            field = value;
            if (value && Skip is null && !Environment.IsPrivilegedProcess)
            {
                Skip = "This FUSE test needs root.";
            }
        }
    }
}

/// <summary>All real-mount tests run one after another (they share the kernel and 2 cores).</summary>
[CollectionDefinition(Name)]
public sealed class FuseMountsDefinition
{
    public const string Name = "FUSE mounts";
}

/// <summary>
/// A temporary directory with a mounted <see cref="InMemoryFileSystem"/>. Dispose unmounts (lazily as a last resort)
/// and removes the directory, also when the test failed half-way.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class TestMount : IDisposable
{
    private TestMount(string root, string mountPoint, FuseMount mount, InMemoryFileSystem fileSystem, ConcurrentQueue<(string, Exception)> exceptions)
    {
        Root = root;
        MountPoint = mountPoint;
        Mount = mount;
        FileSystem = fileSystem;
        Exceptions = exceptions;
    }

    public string Root { get; }

    public string MountPoint { get; }

    public FuseMount Mount { get; }

    public InMemoryFileSystem FileSystem { get; }

    public ConcurrentQueue<(string Operation, Exception Exception)> Exceptions { get; }

    public static TestMount Start(InMemoryFileSystem fileSystem, FuseMountOptions? options = null)
    {
        string root = Directory.CreateTempSubdirectory("cairn-fuse-").FullName;
        string mountPoint = Path.Combine(root, "mnt");
        Directory.CreateDirectory(mountPoint);
        var exceptions = new ConcurrentQueue<(string, Exception)>();
        try
        {
            options = (options ?? new FuseMountOptions()) with { OnException = (op, ex) => exceptions.Enqueue((op, ex)) };
            FuseMount mount = FuseMount.Start(mountPoint, fileSystem, options);
            return new TestMount(root, mountPoint, mount, fileSystem, exceptions);
        }
        catch
        {
            RemoveDirectory(root, mountPoint);
            throw;
        }
    }

    public string PathOf(string relative) => Path.Combine(MountPoint, relative);

    public void Dispose()
    {
        try
        {
            Mount.Dispose();
        }
        finally
        {
            RemoveDirectory(Root, MountPoint);
        }
    }

    /// <summary>Deletes a test directory, first making sure nothing is still mounted inside it (never recurse into a mount).</summary>
    public static void RemoveDirectory(string root, string mountPoint)
    {
        if (Cairn.Native.Linux.MountTable.Find(mountPoint) is not null)
        {
            ProcessRunner.RunAsync("umount", ["-l", mountPoint]).GetAwaiter().GetResult();
        }

        if (Cairn.Native.Linux.MountTable.Find(mountPoint) is null && Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
