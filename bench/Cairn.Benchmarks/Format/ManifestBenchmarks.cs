using BenchmarkDotNet.Attributes;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Benchmarks.Format;

/// <summary>
/// A manifest shaped like the <c>ws</c> corpus (38,583 files in 4,507 directories, ~47k chunks): its encoded size, and
/// how long decoding and validating it takes — what a restore or a mount pays before its first byte.
/// </summary>
[MemoryDiagnoser]
public class ManifestBenchmarks
{
    private byte[] _encoded = [];
    private Manifest _manifest = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        var index = new ChunkIndex();
        var builder = new ManifestBuilder();
        var pack = ContentId.Hash([1]);
        var frame = index.ReserveFrame();
        index.CompleteFrame(frame, pack, new FrameInfo(16, 1 << 20, 2 << 20, 0));

        // 4,507 directories of ~8.5 files each, breadth-first: the root holds 60 directories, each directory ~1 more.
        const int directories = 4507;
        const int files = 38583;
        var root = builder.AddEntry(new EntryRecord { Kind = EntryKind.Directory, Mode = 0x1ED }, [], default);
        var queue = new Queue<int>();
        queue.Enqueue(root);
        var made = 1;
        var fileCount = 0;
        var chunk = 0;
        while (queue.TryDequeue(out var dir))
        {
            var first = builder.EntryCount;
            var subdirectories = dir == root ? 60 : Math.Min(directories - made, rng.Next(0, 3));
            var filesHere = Math.Min(files - fileCount, rng.Next(4, 14));
            var names = Enumerable.Range(0, subdirectories + filesHere).Select(i => $"entry-{i:D3}-{rng.Next(100000)}.js").Order(StringComparer.Ordinal).ToArray();
            for (var i = 0; i < names.Length; i++)
            {
                var isDirectory = i < subdirectories;
                var entry = builder.AddEntry(
                    new EntryRecord { Kind = isDirectory ? EntryKind.Directory : EntryKind.Regular, Mode = 0x1A4, MTimeNs = 1_700_000_000_000_000_000 + rng.Next(), Size = isDirectory ? 0 : 3000 },
                    System.Text.Encoding.ASCII.GetBytes(names[i]),
                    new SourceRecord { CTimeNs = rng.Next(), Inode = (ulong)rng.Next() });
                if (isDirectory)
                {
                    made++;
                    queue.Enqueue(entry);
                }
                else
                {
                    ref var e = ref builder.Entry(entry);
                    e.First = (uint)builder.ChunkRefCount;
                    var chunks = rng.Next(20) == 0 ? 8 : 1;
                    e.Count = (uint)chunks;
                    for (var c = 0; c < chunks; c++)
                    {
                        builder.AddChunkRef(c * 256, ContentId.Hash(BitConverter.GetBytes(chunk++)), new ChunkSlot(frame, c * 256, 256));
                    }

                    fileCount++;
                }
            }

            ref var d = ref builder.Entry(dir);
            d.First = (uint)first;
            d.Count = (uint)names.Length;
        }

        _manifest = builder.Build(index);
        _encoded = ManifestCodec.Encode(_manifest);
        Console.WriteLine($"// manifest: {_manifest.Count} entries, {_manifest.Chunks.Length} chunks, {_encoded.Length:N0} bytes encoded");
    }

    [Benchmark(Description = "decode + validate ws-sized manifest")]
    public Manifest Decode() => ManifestCodec.Decode(_encoded, "bench");

    [Benchmark(Description = "encode ws-sized manifest")]
    public byte[] Encode() => ManifestCodec.Encode(_manifest);
}
