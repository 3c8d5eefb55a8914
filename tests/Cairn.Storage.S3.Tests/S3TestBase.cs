using System.Net;
using System.Net.Sockets;
using Amazon.S3.Model;

namespace Cairn.Storage.S3.Tests;

/// <summary>
/// A test against the real server under its own random prefix; at the end every object and unfinished
/// multipart upload under that prefix is deleted (behind the store's back, so a broken store cannot leak).
/// </summary>
[Collection(S3ServerGroup.Name)]
public abstract class S3TestBase : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _disposables = [];

    protected S3TestBase(S3Server server)
    {
        Server = server;
        Prefix = $"test-{GetType().Name}-{Guid.NewGuid():N}/";
    }

    protected S3Server Server { get; }

    /// <summary>This test's prefix inside the bucket.</summary>
    protected string Prefix { get; }

    /// <summary>A store on this test's prefix, disposed at the end.</summary>
    protected S3ObjectStore OpenStore(Action<S3StoreOptions>? configure = null, Uri? endpoint = null)
    {
        var options = Server.Options(Prefix, endpoint);
        configure?.Invoke(options);
        return Track(new S3ObjectStore(options));
    }

    /// <summary>A fault proxy in front of the server, disposed at the end.</summary>
    protected FaultProxy StartProxy() => Track(new FaultProxy(Server.Endpoint));

    protected T Track<T>(T disposable)
        where T : IAsyncDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }

        using var client = Server.RawClient();
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = Server.Bucket, Prefix = Prefix });
        foreach (var upload in uploads.MultipartUploads ?? [])
        {
            await client.AbortMultipartUploadAsync(Server.Bucket, upload.Key, upload.UploadId);
        }

        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Server.Bucket, Prefix = Prefix, ContinuationToken = token });
            var keys = (page.S3Objects ?? []).Select(o => new KeyVersion { Key = o.Key }).ToList();
            if (keys.Count > 0)
            {
                await client.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = Server.Bucket, Objects = keys });
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
    }

    /// <summary>A port nobody listens on: bind one, note it, close it.</summary>
    protected static int UnusedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    protected static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
