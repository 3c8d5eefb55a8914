using System.Diagnostics;
using System.Globalization;

namespace Cairn.Storage.S3;

/// <summary>
/// The retry policy of the S3 store, the only one (the SDK's own retries are off): up to
/// <see cref="S3StoreOptions.MaxAttempts"/> attempts, no new attempt once <see cref="S3StoreOptions.RetryBudget"/>
/// has passed, exponential backoff with full jitter in between. Only transient failures are retried
/// (<see cref="FailureKind.Transient"/>). Every attempt is counted in <see cref="StoreStatistics"/>.
/// </summary>
internal sealed class RetryRunner
{
    private readonly S3StoreOptions _options;
    private readonly StoreStatistics _statistics;
    private readonly string _endpoint;

    public RetryRunner(S3StoreOptions options, StoreStatistics statistics, string endpoint)
    {
        _options = options;
        _statistics = statistics;
        _endpoint = endpoint;
    }

    /// <summary>Runs <paramref name="action"/> until it succeeds, fails permanently or the retry budget is spent.</summary>
    /// <param name="kind">The counter the requests go to.</param>
    /// <param name="verb">What is being done, for messages: "read", "write", …</param>
    /// <param name="key">The repository key, for messages.</param>
    /// <param name="action">One attempt.</param>
    /// <param name="cancellationToken">The caller's token; its cancellation is never retried.</param>
    /// <exception cref="ObjectNotFoundException">The server said 404 (other than NoSuchBucket).</exception>
    /// <exception cref="PreconditionFailedException">The server said 412 or 409.</exception>
    /// <exception cref="StoreException">Any other failure, or transient ones until the budget ran out.</exception>
    public async Task<T> RunAsync<T>(RequestKind kind, string verb, string key, Func<Attempt, Task<T>> action, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        for (var number = 1; ; number++)
        {
            using var attempt = new Attempt(number, _options.RequestTimeout, cancellationToken);
            S3Failure failure;
            Exception error;
            try
            {
                var result = await action(attempt).ConfigureAwait(false);
                Count(kind, attempt.Transferred);
                return result;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not StoreException)
            {
                Count(kind, 0);
                error = e;
                failure = S3Failure.Classify(e, attempt.TimedOut(cancellationToken), _options.RequestTimeout, _endpoint, _options.Bucket);
            }
            catch
            {
                Count(kind, 0);
                throw;
            }

            switch (failure.Kind)
            {
                case FailureKind.NotFound:
                    throw new ObjectNotFoundException(key, _options.Location);
                case FailureKind.PreconditionFailed:
                    throw new PreconditionFailedException(key, Message(verb, key, failure.Cause));
                case FailureKind.Permanent:
                    throw new StoreException(key, Message(verb, key, failure.Cause), error);
            }

            var delay = Backoff(number);
            if (number >= _options.MaxAttempts || clock.Elapsed + delay > _options.RetryBudget)
            {
                var seconds = clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
                throw new StoreException(key, Message(verb, key, $"{failure.Cause} (gave up after {number} attempts in {seconds} s)"), error);
            }

            _statistics.CountRetry();
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The one-line message for a failed operation on <paramref name="key"/>.</summary>
    public string Message(string verb, string key, string cause) =>
        key.Length == 0 ? $"cannot {verb} {_options.Location}: {cause}" : $"cannot {verb} '{key}' in {_options.Location}: {cause}";

    /// <summary>The cause in the message of a <see cref="StoreException"/> this runner threw for <paramref name="verb"/>: the message without "cannot VERB 'KEY' in LOCATION: ".</summary>
    public string CauseOf(StoreException e, string verb)
    {
        var prefix = Message(verb, e.Key, string.Empty);
        return e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
    }

    /// <summary>Full jitter: uniform in [0, min(max, base * 2^(n-1))).</summary>
    private TimeSpan Backoff(int attempt)
    {
        var ceiling = _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        ceiling = Math.Min(ceiling, _options.RetryMaxDelay.TotalMilliseconds);
#pragma warning disable CA5394 // Jitter, not security.
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
#pragma warning restore CA5394
    }

    private void Count(RequestKind kind, long bytes)
    {
        switch (kind)
        {
            case RequestKind.Get:
                _statistics.CountGet(bytes);
                break;
            case RequestKind.Head:
                _statistics.CountHead();
                break;
            case RequestKind.Put:
                _statistics.CountPut(bytes);
                break;
            case RequestKind.List:
                _statistics.CountList();
                break;
            case RequestKind.Delete:
                _statistics.CountDelete();
                break;
        }
    }
}
