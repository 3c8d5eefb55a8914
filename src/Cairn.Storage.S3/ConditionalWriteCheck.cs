namespace Cairn.Storage.S3;

/// <summary>
/// Checks once per store that the server enforces conditional PUTs. Some S3-compatible servers accept
/// <c>If-None-Match</c>/<c>If-Match</c> and ignore them; on those, two writers of a tag or the config would
/// silently overwrite each other. The check writes a probe object under the repository prefix, writes it
/// again with <c>If-None-Match: *</c> and with a wrong <c>If-Match</c> (both must be refused), and deletes it.
/// </summary>
internal sealed class ConditionalWriteCheck
{
    private readonly Func<string, ReadOnlyMemory<byte>, WriteCondition, CancellationToken, Task> _put;
    private readonly Func<string, CancellationToken, Task> _delete;
    private readonly Lock _gate = new();
    private Task<bool>? _result;

    /// <param name="put">Writes without this check (the probe's own writes).</param>
    /// <param name="delete">Deletes the probe.</param>
    public ConditionalWriteCheck(Func<string, ReadOnlyMemory<byte>, WriteCondition, CancellationToken, Task> put, Func<string, CancellationToken, Task> delete)
    {
        _put = put;
        _delete = delete;
    }

    /// <summary>True when the server enforces conditional writes. Failures are not remembered: the next call checks again.</summary>
    public Task<bool> IsEnforcedAsync(CancellationToken cancellationToken)
    {
        Task<bool> result;
        lock (_gate)
        {
            if (_result is null || _result.IsFaulted || _result.IsCanceled)
            {
                // Not the caller's token: other writers may be waiting for the same check.
                _result = ProbeAsync();
            }

            result = _result;
        }

        return result.WaitAsync(cancellationToken);
    }

    private async Task<bool> ProbeAsync()
    {
        var key = $".cairn-probe/conditional-write-{Guid.NewGuid():N}";
        await _put(key, "1"u8.ToArray(), WriteCondition.IfAbsent, CancellationToken.None).ConfigureAwait(false);
        try
        {
            // Other bytes than the first write's: a retried write that finds its own bytes counts as done.
            var other = "2"u8.ToArray();
            return await IsRefusedAsync(key, other, WriteCondition.IfAbsent).ConfigureAwait(false)
                && await IsRefusedAsync(key, other, WriteCondition.IfMatch("00000000000000000000000000000000")).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await _delete(key, CancellationToken.None).ConfigureAwait(false);
            }
            catch (StoreException)
            {
                // Credentials that may write but not delete: a one-byte probe object stays behind. Harmless.
            }
        }
    }

    private async Task<bool> IsRefusedAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition)
    {
        try
        {
            await _put(key, data, condition, CancellationToken.None).ConfigureAwait(false);
            return false;
        }
        catch (PreconditionFailedException)
        {
            return true;
        }
    }
}
