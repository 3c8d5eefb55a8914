using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;

namespace Cairn.Storage.S3;

/// <summary>What went wrong with one attempt of a request.</summary>
internal enum FailureKind
{
    /// <summary>Worth another attempt: 5xx, throttling, timeouts, broken connections.</summary>
    Transient,

    /// <summary>The key (or the multipart upload) does not exist.</summary>
    NotFound,

    /// <summary>A write condition did not hold (412, 409).</summary>
    PreconditionFailed,

    /// <summary>Another attempt would fail the same way: credentials, permissions, missing bucket, bad request.</summary>
    Permanent,
}

/// <summary>A classified failure: its kind and a one-line cause with the HTTP status and S3 error code.</summary>
internal sealed record S3Failure(FailureKind Kind, string Cause, int StatusCode = 0, string? ErrorCode = null)
{
    /// <summary>Classifies an exception thrown by one attempt.</summary>
    /// <param name="exception">What the attempt threw.</param>
    /// <param name="timedOut">The attempt's own deadline fired (not the caller's cancellation).</param>
    /// <param name="timeout">The idle timeout, for the message.</param>
    /// <param name="endpoint">Where requests go, for connection errors.</param>
    /// <param name="bucket">The bucket, for NoSuchBucket.</param>
    public static S3Failure Classify(Exception exception, bool timedOut, TimeSpan timeout, string endpoint, string bucket)
    {
        if (timedOut)
        {
            return new(FailureKind.Transient, $"no response from {endpoint} for {timeout.TotalSeconds:0.#} s (timeout)");
        }

        if (exception is AmazonServiceException { StatusCode: not 0 } service && (int)service.StatusCode >= 300)
        {
            return FromService(service, bucket);
        }

        if (FindInner<SocketException>(exception) is { } socket)
        {
            var kind = socket.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData ? FailureKind.Permanent : FailureKind.Transient;
            var what = socket.SocketErrorCode is SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.NoData or SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.TimedOut
                ? $"cannot connect to {endpoint}"
                : $"connection to {endpoint} failed";
            return new(kind, $"{what}: {socket.Message}");
        }

        if (FindInner<HttpRequestException>(exception) is { } http)
        {
            return new(FailureKind.Transient, $"HTTP request to {endpoint} failed: {InnermostMessage(http)}");
        }

        if (FindInner<IOException>(exception) is { } io)
        {
            return new(FailureKind.Transient, $"connection to {endpoint} broken: {InnermostMessage(io)}");
        }

        if (FindInner<TimeoutException>(exception) is { } timeoutException)
        {
            return new(FailureKind.Transient, $"timeout talking to {endpoint}: {timeoutException.Message}");
        }

        if (exception is AmazonClientException client)
        {
            // Client-side problems: no credentials, bad configuration. Retrying does not help. The SDK lists every
            // credential source it tried on lines of their own: one line with what to set says more.
            return client.Message.StartsWith("Failed to resolve AWS credentials", StringComparison.Ordinal)
                ? new(FailureKind.Permanent, "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
                : new(FailureKind.Permanent, FirstLine(client.Message));
        }

        return new(FailureKind.Permanent, $"{exception.GetType().Name}: {exception.Message}");
    }

    private static S3Failure FromService(AmazonServiceException e, string bucket)
    {
        var status = (int)e.StatusCode;
        var code = string.IsNullOrEmpty(e.ErrorCode) ? null : e.ErrorCode;
        var kind = status switch
        {
            _ when code is "SlowDown" or "Throttling" or "ThrottlingException" or "RequestTimeout" or "InternalError" or "ServiceUnavailable" => FailureKind.Transient,
            (int)HttpStatusCode.PreconditionFailed or (int)HttpStatusCode.Conflict => FailureKind.PreconditionFailed,
            (int)HttpStatusCode.NotFound when code is not "NoSuchBucket" => FailureKind.NotFound,
            (int)HttpStatusCode.TooManyRequests or (int)HttpStatusCode.RequestTimeout => FailureKind.Transient,
            >= 500 and not (int)HttpStatusCode.NotImplemented => FailureKind.Transient,
            _ => FailureKind.Permanent,
        };

        // radosgw sends an empty <Message/>: the status and the code carry the information, with a hint for the common ones.
        var cause = $"HTTP {status}{(code is null ? string.Empty : " " + code)}";
        var detail = Hint(code, bucket) ?? (IsUseful(e.Message, code) ? e.Message.Trim() : null);
        return new(kind, detail is null ? cause : $"{cause} ({detail})", status, code);
    }

    private static string? Hint(string? code, string bucket) => code switch
    {
        "InvalidAccessKeyId" => "the server does not know this access key: check AWS_ACCESS_KEY_ID or AWS_PROFILE",
        "SignatureDoesNotMatch" => "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY",
        "ExpiredToken" or "TokenRefreshRequired" => "the session token has expired: refresh AWS_SESSION_TOKEN",
        "InvalidToken" => "the session token is not valid: check AWS_SESSION_TOKEN",
        "AccessDenied" => "these credentials may not do this",
        "NoSuchBucket" => $"bucket '{bucket}' does not exist",
        "RequestTimeTooSkewed" => "the local clock is off",
        "PermanentRedirect" or "AuthorizationHeaderMalformed" => "wrong region or endpoint for this bucket: check AWS_REGION / --s3-endpoint",
        "SlowDown" => "the server asks to slow down",
        "InvalidRange" => "the range starts past the end of the object",
        // HEAD responses have no body, so no S3 error code: only the status is known.
        "Forbidden" => "credentials rejected or access denied: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE",
        _ => null,
    };

    /// <summary>False for empty messages (radosgw) and the SDK's boilerplate for bodiless errors.</summary>
    private static bool IsUseful(string? message, string? code) =>
        !string.IsNullOrWhiteSpace(message) && message != code && !message.StartsWith("Error making request with Error Code", StringComparison.Ordinal);

    private static T? FindInner<T>(Exception? e)
        where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T match)
            {
                return match;
            }
        }

        return null;
    }

    private static string FirstLine(string message) => message.TrimStart().Split('\n', 2)[0].TrimEnd();

    private static string InnermostMessage(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e.Message;
    }
}
