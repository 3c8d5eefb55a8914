namespace Cairn.Storage.S3.Tests;

/// <summary>
/// Uploads and downloads move the caller's memory as is: a pack is never buffered twice (a snapshot keeps several
/// 16 MiB packs in flight, so one hidden copy per request would blow its memory bound).
/// </summary>
public sealed class MemoryTests : S3TestBase
{
    public MemoryTests(S3Server server)
        : base(server)
    {
    }

    [Theory]
    [InlineData(12 << 20)] // one PUT
    [InlineData(40 << 20)] // multipart
    public async Task A_write_does_not_copy_the_data(int size)
    {
        var store = OpenStore();
        var data = RandomBytes(size, 11);
        await store.PutAsync("warm-up", data.AsMemory(0, 1 << 20));

        var before = GC.GetTotalAllocatedBytes(precise: true);
        await store.PutAsync("packs/big", data);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.True(allocated < size / 4, $"writing {size} bytes allocated {allocated} bytes");
    }

    [Fact]
    public async Task A_ranged_read_does_not_copy_the_data()
    {
        const int Size = 16 << 20;
        var store = OpenStore();
        await store.PutAsync("packs/big", RandomBytes(Size, 12));
        var buffer = new byte[Size - 1000];
        await store.ReadRangeAsync("packs/big", 0, buffer.AsMemory(0, 1000));

        var before = GC.GetTotalAllocatedBytes(precise: true);
        await store.ReadRangeAsync("packs/big", 1000, buffer);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.True(allocated < Size / 4, $"reading {buffer.Length} bytes allocated {allocated} bytes");
    }
}
