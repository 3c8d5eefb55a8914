using System.Diagnostics;

namespace Cairn.Storage.S3.Tests;

/// <summary>Faults injected by <see cref="FaultProxy"/> between the store and the real server.</summary>
public sealed class RetryTests : S3TestBase
{
    public RetryTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task Two_503_SlowDown_then_success_succeeds_with_two_retries()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        var data = RandomBytes(10_000, 6);
        await store.PutAsync("obj", data);

        var rule = proxy.Fail(FaultKind.SlowDown, r => r.Method == "GET" && r.IsFor(Prefix + "obj"), times: 2);
        Assert.Equal(data, await store.ReadAllAsync("obj"));
        Assert.Equal(2, rule.Hits);
        Assert.Equal(2, store.Statistics.Retries);
        Assert.Equal(3, store.Statistics.Gets);
        Assert.Equal(3, proxy.Requests.Count(r => r.Method == "GET" && r.IsFor(Prefix + "obj")));
    }

    [Fact]
    public async Task A_put_answered_with_503_is_sent_again()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        var data = RandomBytes(3 << 20, 7);
        var rule = proxy.Fail(FaultKind.SlowDown, r => r.Method == "PUT" && r.IsFor(Prefix + "obj"), times: 2);
        await store.PutAsync("obj", data);

        Assert.Equal(2, rule.Hits);
        Assert.True(store.Statistics.Retries >= 2);
        Assert.Equal(data, await store.ReadAllAsync("obj"));
    }

    [Fact]
    public async Task A_connection_reset_in_the_middle_of_the_body_is_retried()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        var data = RandomBytes(2 << 20, 8);
        await store.PutAsync("obj", data);

        var rule = proxy.Fail(FaultKind.ResetMidResponse, r => r.Method == "GET" && r.IsFor(Prefix + "obj"), times: 1);
        Assert.Equal(data, await store.ReadAllAsync("obj"));
        Assert.Equal(1, rule.Hits);
        Assert.Equal(1, store.Statistics.Retries);

        proxy.Fail(FaultKind.ResetMidResponse, r => r.Method == "GET" && r.IsFor(Prefix + "obj"), times: 1);
        var range = new byte[1 << 20];
        await store.ReadRangeAsync("obj", 12345, range);
        Assert.Equal(data.AsSpan(12345, 1 << 20).ToArray(), range);
        Assert.Equal(2, store.Statistics.Retries);
    }

    [Fact]
    public async Task A_stalled_request_times_out_and_is_retried()
    {
        var proxy = StartProxy();
        var store = OpenStore(o => o.RequestTimeout = TimeSpan.FromSeconds(2), proxy.Endpoint);
        await store.PutAsync("obj", "data"u8.ToArray());

        // The setup write may itself be retried (a cold first request can be slow): count from here.
        var before = store.Statistics.Retries;
        var rule = proxy.Fail(FaultKind.Stall, r => r.Method == "GET" && r.IsFor(Prefix + "obj"), times: 1, stall: TimeSpan.FromMinutes(5));
        var clock = Stopwatch.StartNew();
        Assert.Equal("data"u8.ToArray(), await store.ReadAllAsync("obj"));
        Assert.Equal(1, rule.Hits);
        // At least the stalled attempt; on a loaded machine a slow retry may time out too.
        Assert.InRange(store.Statistics.Retries, before + 1, before + 3);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_body_that_stalls_half_way_times_out_and_is_retried()
    {
        var proxy = StartProxy();
        var store = OpenStore(o => o.RequestTimeout = TimeSpan.FromSeconds(2), proxy.Endpoint);
        var data = RandomBytes(1 << 20, 9);
        await store.PutAsync("obj", data);

        var before = store.Statistics.Retries;
        var rule = proxy.Fail(FaultKind.StallMidBody, r => r.Method == "GET" && r.IsFor(Prefix + "obj"), times: 1, stall: TimeSpan.FromMinutes(5));
        var clock = Stopwatch.StartNew();
        var range = new byte[data.Length];
        await store.ReadRangeAsync("obj", 0, range);
        Assert.Equal(data, range);
        Assert.Equal(1, rule.Hits);
        // At least the stalled attempt; on a loaded machine a slow retry may time out too.
        Assert.InRange(store.Statistics.Retries, before + 1, before + 3);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task When_the_attempts_run_out_the_error_names_the_key_and_the_cause()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        proxy.Fail(FaultKind.SlowDown, r => r.IsFor(Prefix + "packs/ab/obj"));

        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.ReadAllAsync("packs/ab/obj"));
        Assert.Equal("packs/ab/obj", e.Key);
        Assert.Contains("'packs/ab/obj'", e.Message, StringComparison.Ordinal);
        Assert.Contains(store.Location, e.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 503 SlowDown", e.Message, StringComparison.Ordinal);
        Assert.Contains("gave up after 6 attempts", e.Message, StringComparison.Ordinal);
        Assert.Equal(6, proxy.Requests.Count(r => r.IsFor(Prefix + "packs/ab/obj")));
        Assert.Equal(5, store.Statistics.Retries);
    }

    [Fact]
    public async Task When_the_time_budget_runs_out_no_further_attempt_starts()
    {
        var proxy = StartProxy();
        var store = OpenStore(
            o =>
            {
                o.MaxAttempts = 1000;
                o.RetryBudget = TimeSpan.FromSeconds(2);
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(400);
            },
            proxy.Endpoint);
        proxy.Fail(FaultKind.SlowDown, r => r.IsFor(Prefix + "obj"));

        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("obj", new byte[100]));
        Assert.Contains("'obj'", e.Message, StringComparison.Ordinal);
        Assert.Contains("gave up after", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"took {clock.Elapsed}");
        var attempts = proxy.Requests.Count(r => r.IsFor(Prefix + "obj"));
        Assert.InRange(attempts, 3, 999);
        Assert.Equal(attempts - 1, store.Statistics.Retries);
    }

    [Fact]
    public async Task A_retried_IfAbsent_write_whose_first_attempt_landed_succeeds()
    {
        var proxy = StartProxy();
        var store = OpenStore(o => o.VerifyConditionalWrites = false, proxy.Endpoint);
        // The first PUT reaches the server, but the client never hears back (reset): the retry then gets 412
        // from its own write, which the store recognises by the ETag.
        proxy.Fail(FaultKind.ResetMidResponse, r => r.Method == "PUT" && r.IsFor(Prefix + "tags/t"), times: 1);
        await store.PutAsync("tags/t", "mine"u8.ToArray(), WriteCondition.IfAbsent);
        Assert.Equal(1, store.Statistics.Retries);
        Assert.Equal(2, proxy.Requests.Count(r => r.Method == "PUT" && r.IsFor(Prefix + "tags/t")));
        Assert.Equal("mine"u8.ToArray(), await store.ReadAllAsync("tags/t"));

        // Someone else's object is still a conflict.
        await Assert.ThrowsAsync<PreconditionFailedException>(async () => await store.PutAsync("tags/t", "other"u8.ToArray(), WriteCondition.IfAbsent));
    }

    [Fact]
    public async Task Cancellation_by_the_caller_is_not_retried()
    {
        var proxy = StartProxy();
        var store = OpenStore(endpoint: proxy.Endpoint);
        await store.PutAsync("obj", "data"u8.ToArray());
        proxy.Fail(FaultKind.Stall, r => r.Method == "GET", stall: TimeSpan.FromMinutes(5));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.ReadAllAsync("obj", cts.Token));
        Assert.Equal(0, store.Statistics.Retries);
    }
}
