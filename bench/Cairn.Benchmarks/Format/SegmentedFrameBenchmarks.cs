using BenchmarkDotNet.Attributes;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Hashing;
using Cairn.Native.Zstd;

namespace Cairn.Benchmarks.Format;

/// <summary>
/// One 2 MiB frame of text-like data decoded whole, and stored in 128 KiB segments (what image frames use where a
/// trial finds them cheap): decoded whole, and a quarter of it, as a restore of a descendant that replaced the rest.
/// What a full decode pays for segments, and what a partial one saves.
/// </summary>
public class SegmentedFrameBenchmarks
{
    private const int SegmentSize = 128 << 10;

    private byte[] _whole = [];
    private byte[] _segmented = [];
    private byte[] _output = [];
    private FrameRecord _wholeRecord;
    private FrameRecord _segmentedRecord;
    private MessageRange[] _quarter = [];

    [GlobalSetup]
    public void Setup()
    {
        var frame = TestData.Text(2 << 20);
        using var encoder = new ZstdEncoder(3);
        _output = new byte[FrameSegments.MaxCompressedLength(frame.Length, SegmentSize)];
        _whole = _output.AsSpan(0, encoder.Compress(frame, _output)).ToArray();
        _segmented = _output.AsSpan(0, FrameSegments.Compress(encoder, frame, SegmentSize, _output)).ToArray();
        _wholeRecord = Record(_whole, frame.Length);
        _segmentedRecord = Record(_segmented, frame.Length);

        // Four 4 KiB blocks, one in each of segments 0, 5, 10 and 15.
        _quarter = [new((0 * SegmentSize) + 8192, 4096), new((5 * SegmentSize) + 8192, 4096), new((10 * SegmentSize) + 8192, 4096), new((15 * SegmentSize) + 8192, 4096)];
    }

    [Benchmark(Description = "decode a 2 MiB frame, whole frame", Baseline = true)]
    public long Whole() => FrameCodec.Decode(_whole, _wholeRecord, _output, "bench", needed: default);

    [Benchmark(Description = "decode a 2 MiB frame, 16 segments, all")]
    public long SegmentedAll() => FrameCodec.Decode(_segmented, _segmentedRecord, _output, "bench", needed: default);

    [Benchmark(Description = "decode a 2 MiB frame, 16 segments, 4 needed")]
    public long SegmentedQuarter() => FrameCodec.Decode(_segmented, _segmentedRecord, _output, "bench", _quarter);

    private static FrameRecord Record(byte[] compressed, int length) =>
        new() { Offset = 16, CompressedLength = (uint)compressed.Length, UncompressedLength = (uint)length, Checksum = Crc32C.Compute(compressed) };
}
