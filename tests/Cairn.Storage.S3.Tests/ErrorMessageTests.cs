using System.Diagnostics;
using Amazon.Runtime;

namespace Cairn.Storage.S3.Tests;

public sealed class ErrorMessageTests : S3TestBase
{
    public ErrorMessageTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task A_missing_bucket_says_so()
    {
        var options = Server.Options(Prefix);
        var bucket = "cairn-missing-" + Guid.NewGuid().ToString("N")[..12];
        await using var store = new S3ObjectStore(new S3StoreOptions(bucket, "repo") { Endpoint = options.Endpoint, Region = options.Region, Credentials = options.Credentials });

        var read = await Assert.ThrowsAsync<StoreException>(async () => await store.ReadAllAsync("config"));
        Assert.IsNotType<ObjectNotFoundException>(read);
        Assert.Equal("config", read.Key);
        Assert.Contains("'config'", read.Message, StringComparison.Ordinal);
        Assert.Contains($"s3://{bucket}/repo/", read.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 404 NoSuchBucket", read.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', read.Message);

        var write = await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("config", new byte[1]));
        Assert.Contains("NoSuchBucket", write.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.Statistics.Retries);
    }

    [Fact]
    public async Task An_unknown_access_key_says_so()
    {
        var store = OpenStore(o => o.Credentials = new BasicAWSCredentials("no-such-key", Server.SecretKey));
        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.ReadAllAsync("config"));
        Assert.IsNotType<ObjectNotFoundException>(e);
        Assert.Contains("HTTP 403 InvalidAccessKeyId", e.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_ACCESS_KEY_ID", e.Message, StringComparison.Ordinal);
        Assert.Contains("'config'", e.Message, StringComparison.Ordinal);

        // HEAD answers carry no error code: the status alone, but still an error, not "missing".
        var head = await Assert.ThrowsAsync<StoreException>(async () => await store.TryGetSizeAsync("config"));
        Assert.Contains("HTTP 403", head.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_ACCESS_KEY_ID", head.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.Statistics.Retries);
    }

    [Fact]
    public async Task A_wrong_secret_key_says_so()
    {
        var store = OpenStore(o => o.Credentials = new BasicAWSCredentials(Server.AccessKey, "wrong-secret"));
        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("config", new byte[10]));
        Assert.Contains("HTTP 403 SignatureDoesNotMatch", e.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_SECRET_ACCESS_KEY", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.Statistics.Retries);
    }

    [Fact]
    public async Task An_unreachable_endpoint_says_so_after_a_few_quick_retries()
    {
        var port = UnusedPort();
        var store = OpenStore(o => o.MaxAttempts = 3, new Uri($"http://127.0.0.1:{port}"));
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.ReadAllAsync("config"));
        Assert.Contains($"cannot connect to http://127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        Assert.Contains("refused", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("3 attempts", e.Message, StringComparison.Ordinal);
        Assert.Contains("'config'", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, store.Statistics.Retries);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_store_opened_from_a_uri_takes_endpoint_region_and_credentials_from_the_environment()
    {
        var saved = new Dictionary<string, string?>();
        foreach (var (name, value) in Server.Environment)
        {
            saved[name] = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, value);
        }

        try
        {
            await using var store = S3ObjectStore.Open($"s3://{Server.Bucket}/{Prefix}from-env");
            Assert.Equal($"s3://{Server.Bucket}/{Prefix}from-env/", store.Location);
            await store.PutAsync("hello", "world"u8.ToArray());
            Assert.Equal("world"u8.ToArray(), await store.ReadAllAsync("hello"));
        }
        finally
        {
            foreach (var (name, value) in saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }
}
