using System.Text;
using Cairn.Chunking;
using Cairn.Format;
using Cairn.Repository;

namespace Cairn.Tests.Images;

public sealed class ImageFormatTests
{
    [Fact]
    public void A_config_written_before_images_existed_gets_the_default_block_size()
    {
        var json = """{"format":"cairn","version":1,"id":"00","hash":"sha256","chunker":"fastcdc-2020","chunkMin":16384,"chunkAverage":65536,"chunkMax":262144,"compression":"zstd","compressionLevel":3,"frameSize":2097152,"packSize":16777216,"encryption":"none"}"""u8;
        Assert.Equal(RepositoryConfig.DefaultImageBlockSize, RepositoryConfig.Parse(json, "test").ImageBlockSize);
    }

    [Theory]
    [InlineData(4096, true)]
    [InlineData(65536, true)]
    [InlineData(1 << 20, true)]
    [InlineData(2048, false)]
    [InlineData(12288, false)]
    [InlineData(2 << 20, false)]
    public void The_image_block_size_is_validated(int blockSize, bool valid)
    {
        var json = new RepositoryConfig { ImageBlockSize = blockSize }.Serialize();
        if (valid)
        {
            Assert.Equal(blockSize, RepositoryConfig.Parse(json, "test").ImageBlockSize);
        }
        else
        {
            Assert.Contains("image block size", Assert.ThrowsAny<CairnException>(() => RepositoryConfig.Parse(json, "test")).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_tree_record_from_before_images_parses_as_a_tree_without_paths()
    {
        var bytes = Encoding.UTF8.GetBytes($$"""{"version":1,"kind":"tree","tree":"{{new string('a', 64)}}","time":"2026-01-01T00:00:00+00:00","source":"/src"}""");
        var record = SnapshotRecord.Parse(bytes, ContentId.Hash(bytes));
        Assert.Equal(SnapshotRecord.TreeKind, record.Kind);
        Assert.Null(record.Paths);
        Assert.DoesNotContain("paths", Encoding.UTF8.GetString(record.Serialize()), StringComparison.Ordinal);
    }

    [Fact]
    public void Fixed_blocks_are_cut_at_the_block_size_and_wait_for_a_whole_block()
    {
        var chunker = new FixedBlockChunker(4096);
        var data = new byte[10000];
        Assert.Equal(4096, chunker.NextCut(data, isFinal: false));
        Assert.Equal(0, chunker.NextCut(data.AsSpan(0, 4095), isFinal: false));
        Assert.Equal(1808, chunker.NextCut(data.AsSpan(8192), isFinal: true));
        Assert.Equal(4096, chunker.Alignment);
        Assert.True(chunker.ElidesZeroChunks);
        Assert.False(new FastCdc(ChunkerParameters.Default).ElidesZeroChunks);
    }
}
