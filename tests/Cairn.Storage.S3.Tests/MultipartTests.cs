using Amazon.S3.Model;

namespace Cairn.Storage.S3.Tests;

public sealed class MultipartTests : S3TestBase
{
    public MultipartTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task A_large_object_is_uploaded_in_equal_parts_and_reads_back()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        var data = RandomBytes((41 << 20) + 123, 4);
        await store.PutAsync("packs/big", data);

        var parts = proxy.Requests.Where(r => r.Method == "PUT" && r.Query.Contains("partNumber=", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, parts.Count);
        var sizes = parts.OrderBy(r => r.Query, StringComparer.Ordinal).Select(r => r.PayloadLength).ToList();
        Assert.Equal(5, sizes.Count(s => s == 7 << 20)); // even parts: 41 MiB over six, not 5 x 8 MiB and a 1 MiB tail
        Assert.Contains((6 << 20) + 123, sizes);
        Assert.Equal(data.Length, sizes.Sum());
        Assert.Equal(0, store.Statistics.Retries);

        // The server's ETag proves how it assembled the parts: 5 x 7 MiB + the rest.
        using var client = Server.RawClient();
        var metadata = await client.GetObjectMetadataAsync(Server.Bucket, Prefix + "packs/big");
        Assert.Equal(ETags.OfMultipart(data, PartPlan.For(data.Length, 8 << 20)), ETags.Unquote(metadata.ETag));

        Assert.Equal(data, await store.ReadAllAsync("packs/big"));
        var across = new byte[1 << 20];
        await store.ReadRangeAsync("packs/big", (7 << 20) - 500, across); // across the first part boundary
        Assert.Equal(data.AsSpan((7 << 20) - 500, 1 << 20).ToArray(), across);
    }

    [Fact]
    public async Task Exactly_the_threshold_is_one_put_and_one_byte_more_is_multipart()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        await store.PutAsync("at", new byte[S3StoreOptions.DefaultMultipartThreshold]);
        await store.PutAsync("above", new byte[S3StoreOptions.DefaultMultipartThreshold + 1]);

        Assert.Single(proxy.Requests, r => r.IsFor(Prefix + "at"));
        var above = proxy.Requests.Where(r => r.IsFor(Prefix + "above")).ToList();
        Assert.Contains(above, r => r.Method == "POST" && r.Query.Contains("uploads", StringComparison.Ordinal));
        Assert.Equal(3, above.Count(r => r.Query.Contains("partNumber=", StringComparison.Ordinal)));
        Assert.Equal(S3StoreOptions.DefaultMultipartThreshold + 1, await store.TryGetSizeAsync("above"));
    }

    [Fact]
    public async Task A_part_that_fails_once_is_retried_alone()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        var data = RandomBytes(20 << 20, 5);
        var rule = proxy.Fail(FaultKind.SlowDown, r => r.Query.Contains("partNumber=2", StringComparison.Ordinal), times: 1);
        await store.PutAsync("retried", data);

        Assert.Equal(1, rule.Hits);
        Assert.Equal(1, store.Statistics.Retries);
        Assert.Equal(data, await store.ReadAllAsync("retried"));
    }

    [Fact]
    public async Task A_part_that_keeps_failing_aborts_the_upload()
    {
        var proxy = StartProxy();
        var store = OpenStore(o => o.MaxAttempts = 3, proxy.Endpoint);
        proxy.Fail(FaultKind.SlowDown, r => r.Query.Contains("partNumber=3", StringComparison.Ordinal));

        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("doomed", new byte[30 << 20]));
        Assert.Equal("doomed", e.Key);
        Assert.Contains("part 3 of 4", e.Message, StringComparison.Ordinal);
        Assert.Contains("503 SlowDown", e.Message, StringComparison.Ordinal);
        Assert.Contains("3 attempts", e.Message, StringComparison.Ordinal);

        Assert.Contains(proxy.Requests, r => r.Method == "DELETE" && r.Query.Contains("uploadId=", StringComparison.Ordinal));
        using var client = Server.RawClient();
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = Server.Bucket, Prefix = Prefix });
        Assert.Empty(uploads.MultipartUploads ?? []);
        Assert.Null(await store.TryGetSizeAsync("doomed"));
    }
}
