using Amazon.S3;
using Amazon.S3.Model;

namespace Cairn.Storage.S3;

/// <summary>
/// Writes one large object with a multipart upload: equal-sized parts (see <see cref="PartPlan"/>), several
/// in flight at once, each retried on its own; the upload is aborted if it cannot be completed, so no
/// orphaned parts are left behind (as far as the server can still be reached).
/// </summary>
/// <remarks>
/// Multipart uploads are never conditional: radosgw ignores <c>If-None-Match</c> on
/// CompleteMultipartUpload (it overwrites), so <see cref="S3ObjectStore"/> refuses conditions on objects
/// above the single-PUT threshold. Large objects are content-addressed: rewriting one is harmless.
/// </remarks>
internal sealed class MultipartUploader
{
    private readonly IAmazonS3 _client;
    private readonly RetryRunner _runner;
    private readonly S3StoreOptions _options;

    public MultipartUploader(IAmazonS3 client, RetryRunner runner, S3StoreOptions options)
    {
        _client = client;
        _runner = runner;
        _options = options;
    }

    public async Task UploadAsync(string key, string objectKey, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var plan = PartPlan.For(data.Length, _options.PartSize);
        var uploadId = await _runner.RunAsync(RequestKind.Put, "start a multipart upload of", key, async attempt =>
        {
            var response = await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _options.Bucket, Key = objectKey }, attempt.Token).ConfigureAwait(false);
            return response.UploadId;
        }, cancellationToken).ConfigureAwait(false);

        try
        {
            var etags = new string[plan.Count];
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(_options.UploadConcurrency, 1), CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(Enumerable.Range(0, plan.Count), parallel, async (index, token) =>
            {
                etags[index] = await UploadPartAsync(key, objectKey, uploadId, data, plan, index, token).ConfigureAwait(false);
            }).ConfigureAwait(false);

            await CompleteAsync(key, objectKey, uploadId, data, plan, etags, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await AbortAsync(key, objectKey, uploadId).ConfigureAwait(false);
            throw;
        }
    }

    private Task<string> UploadPartAsync(string key, string objectKey, string uploadId, ReadOnlyMemory<byte> data, PartPlan plan, int index, CancellationToken cancellationToken)
    {
        var (offset, length) = plan.Part(index);
        var part = data.Slice(checked((int)offset), length);
        return _runner.RunAsync(RequestKind.Put, $"upload part {index + 1} of {plan.Count} of", key, async attempt =>
        {
            var request = new UploadPartRequest
            {
                BucketName = _options.Bucket,
                Key = objectKey,
                UploadId = uploadId,
                PartNumber = index + 1,
                PartSize = length,
                InputStream = new ReadOnlyMemoryStream(part, attempt.Progress),
            };
            var response = await _client.UploadPartAsync(request, attempt.Token).ConfigureAwait(false);
            attempt.Transferred = length;
            return response.ETag;
        }, cancellationToken);
    }

    private async Task CompleteAsync(string key, string objectKey, string uploadId, ReadOnlyMemory<byte> data, PartPlan plan, string[] etags, CancellationToken cancellationToken)
    {
        var retried = false;
        try
        {
            await _runner.RunAsync(RequestKind.Put, "complete the multipart upload of", key, async attempt =>
            {
                retried |= attempt.Number > 1;
                // Assembling the parts can take the server a while.
                attempt.Extend(_options.RequestTimeout * 4);
                var request = new CompleteMultipartUploadRequest { BucketName = _options.Bucket, Key = objectKey, UploadId = uploadId, PartETags = new List<PartETag>(etags.Length) };
                for (var i = 0; i < etags.Length; i++)
                {
                    request.PartETags.Add(new PartETag(i + 1, etags[i]));
                }

                await _client.CompleteMultipartUploadAsync(request, attempt.Token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException) when (retried)
        {
            // NoSuchUpload after a lost response: an earlier attempt may have completed it. Check the result.
            string? etag;
            try
            {
                var metadata = await _runner.RunAsync(RequestKind.Head, "check", key, attempt =>
                    _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = objectKey }, attempt.Token), cancellationToken).ConfigureAwait(false);
                etag = ETags.Unquote(metadata.ETag);
            }
            catch (ObjectNotFoundException)
            {
                etag = null;
            }

            if (!string.Equals(etag, ETags.OfMultipart(data, plan), StringComparison.OrdinalIgnoreCase))
            {
                throw new StoreException(key, _runner.Message("write", key, "the multipart upload vanished before it could be completed"));
            }
        }
        catch (ObjectNotFoundException)
        {
            throw new StoreException(key, _runner.Message("write", key, "the multipart upload vanished before it could be completed (NoSuchUpload)"));
        }
    }

    private async Task AbortAsync(string key, string objectKey, string uploadId)
    {
        try
        {
            // Not the caller's token: a cancelled write must still clean up.
            await _runner.RunAsync(RequestKind.Delete, "abort the multipart upload of", key, attempt =>
                _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _options.Bucket, Key = objectKey, UploadId = uploadId }, attempt.Token), CancellationToken.None).ConfigureAwait(false);
        }
        catch (StoreException)
        {
            // Best effort: the original failure is what the caller needs to see. A bucket lifecycle rule
            // (AbortIncompleteMultipartUpload) removes what is left.
        }
    }
}
