using System.Security.Cryptography;

namespace Cairn.Storage.S3;

/// <summary>ETag helpers. A version token is the ETag without its quotes (radosgw only matches If-Match unquoted).</summary>
internal static class ETags
{
    /// <summary>Strips the quotes (and a weak <c>W/</c>) the server puts around an ETag.</summary>
    public static string Unquote(string? etag)
    {
        var value = etag ?? string.Empty;
        if (value.StartsWith("W/", StringComparison.Ordinal))
        {
            value = value[2..];
        }

        return value.Trim('"');
    }

    /// <summary>The ETag S3 gives an object written with one PUT (without SSE-KMS): the hex MD5 of its bytes.</summary>
    public static string OfSinglePut(ReadOnlySpan<byte> data)
    {
#pragma warning disable CA5351 // MD5 is what S3 uses for ETags; not used for security.
        return Convert.ToHexStringLower(MD5.HashData(data));
#pragma warning restore CA5351
    }

    /// <summary>The ETag of a multipart upload: the hex MD5 of the parts' binary MD5s, then <c>-N</c>.</summary>
    public static string OfMultipart(ReadOnlyMemory<byte> data, PartPlan plan)
    {
        var digests = new byte[plan.Count * 16];
        for (var i = 0; i < plan.Count; i++)
        {
            var (offset, length) = plan.Part(i);
#pragma warning disable CA5351
            MD5.HashData(data.Span.Slice(checked((int)offset), length), digests.AsSpan(i * 16, 16));
#pragma warning restore CA5351
        }

#pragma warning disable CA5351
        return $"{Convert.ToHexStringLower(MD5.HashData(digests))}-{plan.Count}";
#pragma warning restore CA5351
    }
}
