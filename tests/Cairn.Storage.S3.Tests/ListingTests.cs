namespace Cairn.Storage.S3.Tests;

public sealed class ListingTests : S3TestBase
{
    public ListingTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task Listing_more_than_a_thousand_keys_crosses_pages_and_strips_the_prefix()
    {
        var store = OpenStore();
        var keys = Enumerable.Range(0, 1100).Select(i => $"index/{i % 7}/{i:D5}").ToList();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, token) =>
            await store.PutAsync(key, System.Text.Encoding.ASCII.GetBytes(key), cancellationToken: token));
        await store.PutAsync("other/x", new byte[3]);

        var listed = await BasicOperationTests.ToListAsync(store.ListAsync("index/"));
        Assert.Equal(keys.Order(StringComparer.Ordinal), listed.Select(o => o.Key).Order(StringComparer.Ordinal));
        Assert.All(listed, o => Assert.Equal(o.Key.Length, o.Size));
        Assert.True(store.Statistics.Lists >= 2, $"expected more than one page, got {store.Statistics.Lists} list requests");

        var narrow = await BasicOperationTests.ToListAsync(store.ListAsync("index/3/"));
        Assert.Equal(keys.Count(k => k.StartsWith("index/3/", StringComparison.Ordinal)), narrow.Count);

        var all = await BasicOperationTests.ToListAsync(store.ListAsync(""));
        Assert.Equal(1101, all.Count);
        Assert.Contains(new ObjectInfo("other/x", 3), all);
    }
}
