namespace Cairn.Storage.S3.Tests;

public sealed class BasicOperationTests : S3TestBase
{
    public BasicOperationTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task Put_then_get_head_range_and_delete()
    {
        var store = OpenStore();
        var data = RandomBytes(100_000, 1);
        await store.PutAsync("packs/ab/one", data);

        Assert.Equal(data, await store.ReadAllAsync("packs/ab/one"));
        Assert.Equal(data.Length, await store.TryGetSizeAsync("packs/ab/one"));

        var range = new byte[1000];
        await store.ReadRangeAsync("packs/ab/one", 12_345, range);
        Assert.Equal(data.AsSpan(12_345, 1000).ToArray(), range);

        var tail = new byte[10];
        await store.ReadRangeAsync("packs/ab/one", data.Length - 10, tail);
        Assert.Equal(data.AsSpan(data.Length - 10).ToArray(), tail);

        // The object sits under the store's prefix in the bucket.
        using var client = Server.RawClient();
        var metadata = await client.GetObjectMetadataAsync(Server.Bucket, Prefix + "packs/ab/one");
        Assert.Equal(data.Length, metadata.ContentLength);

        await store.DeleteAsync("packs/ab/one");
        Assert.Null(await store.TryGetSizeAsync("packs/ab/one"));
        await store.DeleteAsync("packs/ab/one"); // deleting a missing object is fine
    }

    [Fact]
    public async Task Overwrite_replaces_and_empty_objects_work()
    {
        var store = OpenStore();
        await store.PutAsync("config", "first"u8.ToArray());
        await store.PutAsync("config", "second"u8.ToArray());
        Assert.Equal("second"u8.ToArray(), await store.ReadAllAsync("config"));

        await store.PutAsync("empty", ReadOnlyMemory<byte>.Empty);
        Assert.Empty(await store.ReadAllAsync("empty"));
        Assert.Equal(0, await store.TryGetSizeAsync("empty"));
        await store.ReadRangeAsync("empty", 0, Memory<byte>.Empty);
    }

    [Fact]
    public async Task Writes_from_a_slice_of_a_larger_buffer_write_only_the_slice()
    {
        var store = OpenStore();
        var buffer = RandomBytes(4096, 2);
        await store.PutAsync("slice", buffer.AsMemory(100, 1000));
        Assert.Equal(buffer.AsSpan(100, 1000).ToArray(), await store.ReadAllAsync("slice"));
    }

    [Fact]
    public async Task Missing_keys_are_ObjectNotFoundException_or_null()
    {
        var store = OpenStore();
        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.ReadAllAsync("nope/missing"));
        Assert.Equal("nope/missing", e.Key);
        Assert.Contains("nope/missing", e.Message, StringComparison.Ordinal);
        Assert.Contains(store.Location, e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.ReadVersionedAsync("nope/missing"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.ReadRangeAsync("nope/missing", 0, new byte[10]));
        await Assert.ThrowsAsync<ObjectNotFoundException>(async () => await store.ReadRangeAsync("nope/missing", 0, Memory<byte>.Empty));
        Assert.Null(await store.TryGetSizeAsync("nope/missing"));
        Assert.Empty(await ToListAsync(store.ListAsync("nope/")));
        Assert.Equal(0, store.Statistics.Retries);
    }

    [Fact]
    public async Task A_range_past_the_end_is_a_StoreException_naming_the_key()
    {
        var store = OpenStore();
        await store.PutAsync("short", new byte[100]);

        var across = await Assert.ThrowsAsync<StoreException>(async () => await store.ReadRangeAsync("short", 90, new byte[20]));
        Assert.IsNotType<ObjectNotFoundException>(across);
        Assert.Equal("short", across.Key);
        Assert.Contains("'short'", across.Message, StringComparison.Ordinal);

        var beyond = await Assert.ThrowsAsync<StoreException>(async () => await store.ReadRangeAsync("short", 1000, new byte[20]));
        Assert.Contains("416", beyond.Message, StringComparison.Ordinal);
        Assert.Contains("'short'", beyond.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Versioned_reads_return_the_unquoted_etag()
    {
        var store = OpenStore();
        await store.PutAsync("tags/latest", "v1"u8.ToArray());
        var read = await store.ReadVersionedAsync("tags/latest");
        Assert.Equal("v1"u8.ToArray(), read.Data);
        Assert.Equal(ETags.OfSinglePut("v1"u8), read.Version);
        Assert.DoesNotContain('"', read.Version);
    }

    [Fact]
    public async Task Statistics_count_requests_and_bytes()
    {
        var store = OpenStore();
        await store.PutAsync("a", new byte[1000]);
        await store.ReadAllAsync("a");
        await store.ReadRangeAsync("a", 10, new byte[100]);
        await store.TryGetSizeAsync("a");
        await ToListAsync(store.ListAsync(""));
        await store.DeleteAsync("a");

        var s = store.Statistics;
        Assert.Equal(1, s.Puts);
        Assert.Equal(1000, s.BytesWritten);
        Assert.Equal(2, s.Gets);
        Assert.Equal(1100, s.BytesRead);
        Assert.Equal(1, s.Heads);
        Assert.Equal(1, s.Lists);
        Assert.Equal(1, s.Deletes);
        Assert.Equal(0, s.Retries);
    }

    [Fact]
    public async Task Many_parallel_requests_all_complete()
    {
        var store = OpenStore();
        var data = RandomBytes(256 * 1024, 3);
        await store.PutAsync("shared", data);
        var reads = Enumerable.Range(0, 128).Select(async i =>
        {
            var buffer = new byte[1024];
            await store.ReadRangeAsync("shared", i * 1024, buffer);
            return buffer.AsSpan().SequenceEqual(data.AsSpan(i * 1024, 1024));
        });
        Assert.All(await Task.WhenAll(reads), Assert.True);
        Assert.Equal(0, store.Statistics.Retries);
    }

    internal static async Task<List<ObjectInfo>> ToListAsync(IAsyncEnumerable<ObjectInfo> items)
    {
        var list = new List<ObjectInfo>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }
}
