using Cairn.Tests.Support;
using System.Collections.Concurrent;
using System.Runtime.Versioning;
using Cairn.Mount;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Storage;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Mount;

/// <summary>
/// A temporary directory with a source tree, a repository (local, or any store), a frame cache and mount points.
/// Dispose unmounts everything it mounted and removes the directory, also when a test failed half-way.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class MountLab : IAsyncDisposable
{
    /// <summary>Small chunks and frames, so a few MB of test data spans many frames and packs.</summary>
    public static readonly RepositoryConfig SmallFrames = new() { ChunkMin = 4096, ChunkAverage = 16384, ChunkMax = 65536, FrameSize = 128 << 10, PackSize = 512 << 10 };

    private readonly List<IMountSession> _mounts = [];
    private readonly List<string> _mountPoints = [];
    private readonly Func<IObjectStore> _openStore;

    private MountLab(string root, Func<IObjectStore> openStore)
    {
        Root = root;
        _openStore = openStore;
        Source = Path.Combine(root, "src");
        CacheRoot = Path.Combine(root, "cache");
    }

    public string Root { get; }

    public string Source { get; }

    public string CacheRoot { get; }

    public string RepositoryPath => Path.Combine(Root, "repo");

    public Repository.Repository Repository { get; private set; } = null!;

    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>While set, every line given to a mount's log is kept in <see cref="Log"/> and then fails, as a log file on a full disk does.</summary>
    public bool LogFails { get; set; }

    /// <summary>
    /// A lab with the sample tree and a repository (<paramref name="config"/>, by default <see cref="SmallFrames"/>): local
    /// unless <paramref name="openStore"/> gives another store (called again by <see cref="ReopenAsync"/>).
    /// </summary>
    public static async Task<MountLab> CreateAsync(Func<IObjectStore>? openStore = null, RepositoryConfig? config = null)
    {
        var root = Directory.CreateTempSubdirectory("cairn-mount-").FullName;
        MountLab? lab = null;
        try
        {
            var repoPath = Path.Combine(root, "repo");
            lab = new MountLab(root, openStore ?? (() => new LocalObjectStore(repoPath)));
            SampleTree.Create(lab.Source);
            lab.Repository = await global::Cairn.Repository.Repository.InitAsync(lab._openStore(), config ?? SmallFrames);
            return lab;
        }
        catch
        {
            if (lab is not null)
            {
                await lab.DisposeAsync();
            }
            else
            {
                RemoveTree(root);
            }

            throw;
        }
    }

    /// <summary>Removes a directory tree by raw names (System.IO cannot delete a name that is not UTF-8).</summary>
    public static void RemoveTree(string path)
    {
        using var parent = LinuxFile.OpenDirectory(Path.GetDirectoryName(path)!);
        LinuxFile.RemoveTree(parent, System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path)));
    }

    public async Task<SnapshotRecord> SnapshotAsync(SnapshotRecord? parent = null)
    {
        var result = await new Archiver(Repository, new SnapshotOptions { Parent = parent?.Id.ToString() }).SnapshotAsync(Source);
        return result.Snapshot;
    }

    /// <summary>The repository opened again through a new store: fresh request counters.</summary>
    public async Task<Repository.Repository> ReopenAsync()
    {
        await Repository.DisposeAsync();
        Repository = await global::Cairn.Repository.Repository.OpenAsync(_openStore());
        return Repository;
    }

    private void WriteLog(string line)
    {
        Log.Enqueue(line);
        if (LogFails)
        {
            throw new IOException("No space left on device (injected)");
        }
    }

    /// <summary>Mounts at a new mount point. Defaults for tests: no hydration, no trace (each test turns on what it checks).</summary>
    public async Task<SnapshotMount> MountAsync(SnapshotRecord snapshot, MountOptions? options = null)
    {
        var mountPoint = NewMountPoint();
        options = (options ?? new MountOptions { Hydrate = false, Trace = false }) with
        {
            CacheRoot = options?.CacheRoot ?? CacheRoot,
            Log = WriteLog,
        };
        var mount = await SnapshotMount.StartAsync(Repository, snapshot, mountPoint, options);
        _mounts.Add(mount);
        return mount;
    }

    /// <summary>Mounts writable at a new mount point, its layers in <paramref name="layers"/> or a new directory of the lab (defaults as for <see cref="MountAsync"/>).</summary>
    public async Task<WritableMount> MountWritableAsync(SnapshotRecord snapshot, OverlayFlavor flavor, string? layers = null)
    {
        var mountPoint = NewMountPoint();
        layers ??= NewLayersDirectory();
        var options = new MountOptions { Hydrate = false, Trace = false, CacheRoot = CacheRoot, Log = Log.Enqueue };
        var mount = await WritableMount.StartAsync(Repository, snapshot, mountPoint, new WritableOptions { Directory = layers, Overlay = flavor, RepositoryLocation = RepositoryPath }, options);
        _mounts.Add(mount);
        return mount;
    }

    /// <summary>A path for a writable mount's layers (not created; named <paramref name="name"/> if given), whose lower mount point Dispose unmounts if needed.</summary>
    public string NewLayersDirectory(string? name = null)
    {
        var layers = Path.Combine(Root, name ?? $"layers{_mountPoints.Count}");
        _mountPoints.Add(new OverlayDirectory(layers).Lower);
        return layers;
    }

    public string NewMountPoint()
    {
        var mountPoint = Path.Combine(Root, $"mnt{_mountPoints.Count}");
        Directory.CreateDirectory(mountPoint);
        _mountPoints.Add(mountPoint);
        return mountPoint;
    }

    /// <summary>GET requests (whole and ranged) the current store has made so far.</summary>
    public long Gets => Repository.Store.Statistics.Gets;

    public async ValueTask DisposeAsync()
    {
        foreach (var mount in _mounts)
        {
            await mount.DisposeAsync();
        }

        if (Repository is not null)
        {
            await Repository.DisposeAsync();
        }

        foreach (var mountPoint in _mountPoints)
        {
            while (MountTable.Find(mountPoint) is not null && (await ProcessRunner.RunAsync("umount", ["-l", mountPoint])).ExitCode == 0)
            {
            }
        }

        // Never remove a tree with anything still mounted in it.
        if (!_mountPoints.Any(m => MountTable.Find(m) is not null))
        {
            RemoveTree(Root);
        }
    }
}
