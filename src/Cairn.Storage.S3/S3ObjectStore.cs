using System.Net;
using System.Runtime.CompilerServices;
using Amazon.S3;
using Amazon.S3.Model;
using Cairn.Diagnostics;

namespace Cairn.Storage.S3;

/// <summary>
/// An <see cref="IObjectStore"/> in an S3-compatible bucket (AWS S3, Cloudflare R2, Ceph radosgw, MinIO, …),
/// under a key prefix: repository key <c>k</c> is object <c>PREFIX + k</c>.
/// </summary>
/// <remarks>
/// <para>Reads are single GETs (ranged for <see cref="ReadRangeAsync"/>) streamed straight into the result;
/// objects up to <see cref="S3StoreOptions.MultipartThreshold"/> are written with one PUT, larger ones with a
/// multipart upload of equal parts. Caller buffers are never copied.</para>
/// <para>Conditional writes: <see cref="WriteConditionKind.IfAbsent"/> sends <c>If-None-Match: *</c>,
/// <see cref="WriteConditionKind.IfMatch"/> sends <c>If-Match</c> with the unquoted ETag (the version that
/// <see cref="ReadVersionedAsync"/> returns). They are only allowed on single-PUT objects, because radosgw
/// ignores <c>If-None-Match</c> on CompleteMultipartUpload. Unless
/// <see cref="S3StoreOptions.VerifyConditionalWrites"/> is off, the first conditional write checks that the
/// server enforces them at all (<see cref="ConditionalWriteCheck"/>) and refuses to write if it does not.</para>
/// <para>Every request is retried by <see cref="RetryRunner"/> (the SDK's own retries are off).</para>
/// </remarks>
public sealed class S3ObjectStore : IObjectStore
{
    private readonly S3StoreOptions _options;
    private readonly AmazonS3Client _client;
    private readonly RetryRunner _runner;
    private readonly MultipartUploader _multipart;
    private readonly ConditionalWriteCheck _conditionalWrites;
    private readonly string _endpoint;

    /// <summary>Opens the store (no request is made until the first operation).</summary>
    /// <exception cref="UsageException">No endpoint or region can be determined, or an endpoint variable is malformed.</exception>
    public S3ObjectStore(S3StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MultipartThreshold, PartPlan.MinPartSize, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PartSize, PartPlan.MinPartSize, nameof(options));
        _options = options;
        _client = S3ClientFactory.Create(options, out var endpoint);
        PhaseTrace.Mark("s3: client created");
        _endpoint = endpoint?.GetLeftPart(UriPartial.Authority) ?? $"S3 ({_client.Config.RegionEndpoint?.SystemName})";
        _runner = new RetryRunner(options, Statistics, _endpoint);
        _multipart = new MultipartUploader(_client, _runner, options);
        _conditionalWrites = new ConditionalWriteCheck(
            (key, data, condition, token) => PutSingleAsync(key, data, condition, token),
            (key, token) => DeleteAsync(key, token).AsTask());
    }

    /// <summary>Opens the store at <c>s3://BUCKET/PREFIX</c>, everything else from the AWS environment.</summary>
    public static S3ObjectStore Open(string uri) => new(S3StoreOptions.Parse(uri));

    public string Location => _options.Location;

    public StoreStatistics Statistics { get; } = new();

    /// <summary>The options the store was opened with.</summary>
    public S3StoreOptions Options => _options;

    public async ValueTask<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken = default) =>
        (await GetAsync(key, cancellationToken).ConfigureAwait(false)).Data;

    public async ValueTask<VersionedObject> ReadVersionedAsync(string key, CancellationToken cancellationToken = default) =>
        await GetAsync(key, cancellationToken).ConfigureAwait(false);

    public async ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var objectKey = ObjectKey(key);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (buffer.Length == 0)
        {
            // No such thing as an empty HTTP range: check that the object exists and is long enough.
            var size = await TryGetSizeAsync(key, cancellationToken).ConfigureAwait(false) ?? throw new ObjectNotFoundException(key, Location);
            if (offset > size)
            {
                throw new StoreException(key, _runner.Message("read", key, $"offset {offset} is past the end ({size} bytes)"));
            }

            return;
        }

        var last = offset + buffer.Length - 1;
        await _runner.RunAsync(RequestKind.Get, $"read bytes {offset}-{last} of", key, async attempt =>
        {
            var request = new GetObjectRequest { BucketName = _options.Bucket, Key = objectKey, ByteRange = new ByteRange(offset, last) };
            using var response = await _client.GetObjectAsync(request, attempt.Token).ConfigureAwait(false);
            attempt.Progress();
            var ranged = response.HttpStatusCode == HttpStatusCode.PartialContent;
            if (response.ContentLength != buffer.Length || (!ranged && offset != 0))
            {
                var got = ranged ? $"the object ends after {offset + response.ContentLength} bytes" : $"the server ignored the range (HTTP {(int)response.HttpStatusCode}, {response.ContentLength} bytes)";
                throw new StoreException(key, _runner.Message($"read bytes {offset}-{last} of", key, got));
            }

            await ReadExactlyAsync(response.ResponseStream, buffer, attempt).ConfigureAwait(false);
            attempt.Transferred = buffer.Length;
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<long?> TryGetSizeAsync(string key, CancellationToken cancellationToken = default)
    {
        var objectKey = ObjectKey(key);
        try
        {
            var metadata = await HeadAsync(key, objectKey, cancellationToken).ConfigureAwait(false);
            return metadata.ContentLength;
        }
        catch (ObjectNotFoundException)
        {
            // HEAD has no error body: a missing bucket looks the same as a missing key here.
            return null;
        }
    }

    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default)
    {
        _ = ObjectKey(key);
        if (condition.Kind != WriteConditionKind.None)
        {
            if (data.Length > _options.MultipartThreshold)
            {
                throw new StoreException(key, _runner.Message("write", key, $"a conditional write is limited to {_options.MultipartThreshold} bytes (one PUT), this object has {data.Length}"));
            }

            if (_options.VerifyConditionalWrites && !await ConditionalWritesEnforcedAsync(key, cancellationToken).ConfigureAwait(false))
            {
                throw new StoreException(key, _runner.Message("write", key,
                    $"the server at {_endpoint} ignores conditional writes (If-None-Match/If-Match), so concurrent writers could overwrite each other; "
                    + "use a server that enforces them, or, if only one writer ever uses this repository, turn the check off (--s3-no-verify-conditional-writes)"));
            }
        }

        if (data.Length <= _options.MultipartThreshold)
        {
            await PutSingleAsync(key, data, condition, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _multipart.UploadAsync(key, ObjectKey(key), data, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var objectKey = ObjectKey(key);
        try
        {
            await _runner.RunAsync(RequestKind.Delete, "delete", key, attempt =>
                _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = objectKey }, attempt.Token), cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            // S3 answers 204 for a missing key; some servers say 404. Either way: gone.
        }
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        string? continuation = null;
        do
        {
            var token = continuation;
            var page = await _runner.RunAsync(RequestKind.List, "list", prefix, attempt =>
                _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = _options.Prefix + prefix, ContinuationToken = token }, attempt.Token), cancellationToken).ConfigureAwait(false);
            foreach (var item in page.S3Objects ?? [])
            {
                if (item.Key.StartsWith(_options.Prefix, StringComparison.Ordinal))
                {
                    yield return new ObjectInfo(item.Key[_options.Prefix.Length..], item.Size ?? 0);
                }
            }

            continuation = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (continuation is not null);
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private static async Task ReadExactlyAsync(Stream stream, Memory<byte> buffer, Attempt attempt)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer[total..], attempt.Token).ConfigureAwait(false);
            if (n == 0)
            {
                // Transient: the connection ended early. RetryRunner classifies IOException as retryable.
                throw new IOException($"the response ended after {total} of {buffer.Length} bytes");
            }

            total += n;
            attempt.Progress();
        }
    }

    private Task<VersionedObject> GetAsync(string key, CancellationToken cancellationToken)
    {
        var objectKey = ObjectKey(key);
        return _runner.RunAsync(RequestKind.Get, "read", key, async attempt =>
        {
            using var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _options.Bucket, Key = objectKey }, attempt.Token).ConfigureAwait(false);
            attempt.Progress();
            if (response.ContentLength < 0 || response.ContentLength > Array.MaxLength)
            {
                throw new StoreException(key, _runner.Message("read", key, $"unusable object size {response.ContentLength}"));
            }

            var data = new byte[response.ContentLength];
            await ReadExactlyAsync(response.ResponseStream, data, attempt).ConfigureAwait(false);
            attempt.Transferred = data.Length;
            return new VersionedObject(data, ETags.Unquote(response.ETag));
        }, cancellationToken);
    }

    private Task<GetObjectMetadataResponse> HeadAsync(string key, string objectKey, CancellationToken cancellationToken) =>
        _runner.RunAsync(RequestKind.Head, "stat", key, attempt =>
            _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = objectKey }, attempt.Token), cancellationToken);

    /// <summary>One PUT, with the condition as a header. Does not check whether the server enforces conditions.</summary>
    private async Task PutSingleAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition, CancellationToken cancellationToken)
    {
        var objectKey = ObjectKey(key);
        var retried = false;
        try
        {
            await _runner.RunAsync(RequestKind.Put, "write", key, async attempt =>
            {
                retried |= attempt.Number > 1;
                var request = new PutObjectRequest
                {
                    BucketName = _options.Bucket,
                    Key = objectKey,
                    InputStream = new ReadOnlyMemoryStream(data, attempt.Progress),
                    AutoCloseStream = true,
                };
                switch (condition.Kind)
                {
                    case WriteConditionKind.IfAbsent:
                        request.IfNoneMatch = "*";
                        break;
                    case WriteConditionKind.IfMatch:
                        // Unquoted: radosgw compares the raw header with its unquoted ETag.
                        request.IfMatch = ETags.Unquote(condition.Version);
                        break;
                }

                await _client.PutObjectAsync(request, attempt.Token).ConfigureAwait(false);
                attempt.Transferred = data.Length;
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreException e) when (e is PreconditionFailedException || (e is ObjectNotFoundException && condition.Kind == WriteConditionKind.IfMatch))
        {
            // After a lost response, the refusal may be of our own earlier, successful attempt.
            if (retried && await HoldsAsync(key, objectKey, data, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            var why = condition.Kind == WriteConditionKind.IfAbsent ? "it already exists"
                : e is ObjectNotFoundException ? "it no longer exists"
                : "it was changed by another writer";
            throw new PreconditionFailedException(key, _runner.Message(condition.Kind == WriteConditionKind.IfAbsent ? "create" : "replace", key, why));
        }
    }

    private async Task<bool> ConditionalWritesEnforcedAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await _conditionalWrites.IsEnforcedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (StoreException e)
        {
            // The probe's own key means nothing to the caller: name the caller's key and the probe's cause.
            throw new StoreException(key, _runner.Message("write", key, $"checking that the server enforces conditional writes failed: {_runner.CauseOf(e, "write")}"), e);
        }
    }

    /// <summary>True when the object now holds exactly <paramref name="data"/> (compared by the single-PUT ETag).</summary>
    private async Task<bool> HoldsAsync(string key, string objectKey, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await HeadAsync(key, objectKey, cancellationToken).ConfigureAwait(false);
            return metadata.ContentLength == data.Length && string.Equals(ETags.Unquote(metadata.ETag), ETags.OfSinglePut(data.Span), StringComparison.OrdinalIgnoreCase);
        }
        catch (ObjectNotFoundException)
        {
            return false;
        }
    }

    private string ObjectKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0 || key.StartsWith('/'))
        {
            throw new StoreException(key, $"invalid object key '{key}'");
        }

        return _options.Prefix + key;
    }
}
