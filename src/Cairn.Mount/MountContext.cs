using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Mount;

/// <summary>What the parts of one mount share: the snapshot, where its frames come from, the counters and the log.</summary>
internal sealed class MountContext
{
    private readonly string?[] _packKeys;
    private readonly int[] _verified;

    public MountContext(IObjectStore store, SnapshotRecord snapshot, Manifest manifest, FrameCache? cache, MountOptions options)
    {
        Store = store;
        Snapshot = snapshot;
        Manifest = manifest;
        Cache = cache;
        Options = options;
        _packKeys = new string?[manifest.Packs.Length];
        _verified = new int[(manifest.Chunks.Length + 31) / 32];
    }

    public IObjectStore Store { get; }

    public SnapshotRecord Snapshot { get; }

    public Manifest Manifest { get; }

    public FrameCache? Cache { get; }

    public MountOptions Options { get; }

    public MountStatistics Statistics { get; } = new();

    /// <summary>Puts the files next to one a read was answered from into the kernel's page cache, unless that is off.</summary>
    public FramePusher? Pusher { get; set; }

    /// <summary>Records the first reads, unless tracing is off.</summary>
    public TraceRecorder? Trace { get; init; }

    public string PackKey(int pack) => _packKeys[pack] ??= ObjectKeys.Pack(Manifest.Packs[pack]);

    /// <summary>
    /// Writes a line to the mount's log. Never throws: every thread of the server logs (FUSE workers, fetches, the
    /// pusher, hydration), often from the handler of another failure, and a log that cannot be written (a full disk,
    /// a removed directory) must cost the line, never the mount.
    /// </summary>
    public void Log(string message)
    {
        var line = $"cairn mount {Snapshot.Id.ToShortString()}: {message}";
        try
        {
            if (Options.Log is { } log)
            {
                log(line);
            }
            else
            {
                Console.Error.WriteLine(line);
            }
        }
#pragma warning disable CA1031 // See above: nothing a log sink throws may escape.
        catch (Exception)
#pragma warning restore CA1031
        {
            // The line is lost; there is nowhere left to say so.
        }
    }

    /// <summary>
    /// Checks chunk <paramref name="chunk"/> against its SHA-256 the first time this mount sees it; a chunk verified
    /// once is not hashed again (its frame's bytes never change: packs and cache files are immutable).
    /// </summary>
    /// <exception cref="CorruptDataException">The bytes are not the chunk.</exception>
    public void VerifyChunk(int chunk, ReadOnlySpan<byte> data, string what)
    {
        if (IsVerified(chunk))
        {
            return;
        }

        FrameCodec.VerifyChunk(data, Manifest.Chunks[chunk].Id, what);
        Interlocked.Or(ref _verified[chunk >> 5], 1 << (chunk & 31));
    }

    public bool IsVerified(int chunk) => (Volatile.Read(ref _verified[chunk >> 5]) & (1 << (chunk & 31))) != 0;
}
