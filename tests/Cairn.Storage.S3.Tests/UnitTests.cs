using System.Buffers;
using System.Runtime.InteropServices;

namespace Cairn.Storage.S3.Tests;

/// <summary>The parts that need no server.</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("s3://bucket", "bucket", "")]
    [InlineData("s3://bucket/", "bucket", "")]
    [InlineData("s3://my.bucket-1/repo", "my.bucket-1", "repo/")]
    [InlineData("s3://bucket/a/b/", "bucket", "a/b/")]
    [InlineData("S3://bucket/a/b", "bucket", "a/b/")]
    public void Parse_splits_bucket_and_prefix_and_ends_the_prefix_with_a_slash(string uri, string bucket, string prefix)
    {
        var options = S3StoreOptions.Parse(uri);
        Assert.Equal(bucket, options.Bucket);
        Assert.Equal(prefix, options.Prefix);
        Assert.Equal($"s3://{bucket}/{prefix}", options.Location);
        Assert.Null(options.Endpoint);
        Assert.Null(options.ForcePathStyle);
    }

    [Theory]
    [InlineData("/tmp/repo")]
    [InlineData("s3://")]
    [InlineData("s3://ab")]
    [InlineData("s3://Bucket/x")]
    [InlineData("s3://bucket//x")]
    [InlineData("s3://bucket-/x")]
    [InlineData("http://bucket/x")]
    public void Parse_rejects_what_is_not_an_s3_location(string uri)
    {
        var e = Assert.Throws<UsageException>(() => S3StoreOptions.Parse(uri));
        Assert.Contains(uri, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(40L << 20, 8 << 20, 5, 8 << 20)]
    [InlineData((41L << 20) + 123, 8 << 20, 6, (6 << 20) + 123)]                // 7 MiB parts, not 8 and a 1 MiB tail
    [InlineData(16L << 20, 8 << 20, 2, 8 << 20)]
    [InlineData((16L << 20) + (400 << 10), 8 << 20, 3, (4 << 20) + (400 << 10))] // a pack: 6, 6 and 4.4 MiB
    [InlineData(9L << 20, 8 << 20, 2, 4 << 20)]                                 // 5 and 4: no part under 5 MiB but the last
    [InlineData(100L << 30, 8 << 20, 9_310, 1 << 20)]
    public void Parts_are_equal_but_the_last(long size, int preferred, int count, int last)
    {
        var plan = PartPlan.For(size, preferred);
        Assert.Equal(count, plan.Count);
        var fewest = (size + preferred - 1) / preferred;
        if (fewest <= PartPlan.MaxParts)
        {
            Assert.Equal(fewest, plan.Count); // as few parts as the largest part size allows
        }

        Assert.True(plan.PartSize >= PartPlan.MinPartSize);
        Assert.True(plan.Count <= PartPlan.MaxParts);
        Assert.Equal(last, plan.Part(plan.Count - 1).Length);
        var total = 0L;
        for (var i = 0; i < plan.Count; i++)
        {
            var (offset, length) = plan.Part(i);
            Assert.Equal(total, offset);
            if (i < plan.Count - 1)
            {
                Assert.Equal(plan.PartSize, length);
            }

            Assert.InRange(length, 1, plan.PartSize);
            total += length;
        }

        Assert.Equal(size, total);
    }

    [Fact]
    public void Parts_grow_past_ten_thousand()
    {
        var plan = PartPlan.For(200L << 30, 8 << 20);
        Assert.True(plan.Count <= PartPlan.MaxParts);
        Assert.Equal(0, plan.PartSize % (1 << 20));
        Assert.True(plan.PartSize > 8 << 20);
    }

    [Fact]
    public unsafe void Upload_stream_reads_native_memory_without_copying_it_first()
    {
        // Memory that is not an array: the stream must work over any ReadOnlyMemory<byte>.
        using var native = new NativeBuffer(1000);
        for (var i = 0; i < 1000; i++)
        {
            native.Memory.Span[i] = (byte)i;
        }

        Assert.False(MemoryMarshal.TryGetArray<byte>(native.Memory, out _));
        var progress = 0;
        using var stream = new ReadOnlyMemoryStream(native.Memory, () => progress++);
        Assert.True(stream.CanSeek);
        Assert.False(stream.CanWrite);
        Assert.Equal(1000, stream.Length);
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        Assert.Equal(native.Memory.ToArray(), copy.ToArray());
        stream.Position = 998;
        Assert.Equal(998 % 256, stream.ReadByte());
        Assert.Equal(999 % 256, stream.ReadByte());
        Assert.Equal(-1, stream.ReadByte());
        Assert.True(progress > 0);
        Assert.Throws<NotSupportedException>(() => stream.Write(new byte[1], 0, 1));
    }

    [Theory]
    [InlineData("\"abc\"", "abc")]
    [InlineData("abc", "abc")]
    [InlineData("W/\"abc\"", "abc")]
    [InlineData("\"abc-3\"", "abc-3")]
    public void Versions_are_unquoted_etags(string etag, string version) => Assert.Equal(version, ETags.Unquote(etag));

    private sealed unsafe class NativeBuffer : MemoryManager<byte>
    {
        private readonly byte* _pointer;
        private readonly int _length;

        public NativeBuffer(int length)
        {
            _pointer = (byte*)NativeMemory.Alloc((nuint)length);
            _length = length;
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing) => NativeMemory.Free(_pointer);
    }
}
