using System.Text;

namespace Cairn.Storage.S3.Tests;

public sealed class ConditionalWriteTests : S3TestBase
{
    public ConditionalWriteTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task Of_sixteen_racing_IfAbsent_writers_exactly_one_wins()
    {
        var store = OpenStore();
        // Check once up front, so that the writers race each other and not the probe.
        await store.PutAsync("warm-up", new byte[1], WriteCondition.IfAbsent);

        using var start = new ManualResetEventSlim();
        var writers = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            start.Wait();
            try
            {
                await store.PutAsync("tags/race", Encoding.ASCII.GetBytes($"writer {i}"), WriteCondition.IfAbsent);
                return (Writer: i, Error: (Exception?)null);
            }
            catch (Exception e)
            {
                return (Writer: i, Error: e);
            }
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(writers);

        var winners = results.Where(r => r.Error is null).ToList();
        Assert.Single(winners);
        Assert.All(results.Where(r => r.Error is not null), r =>
        {
            var e = Assert.IsType<PreconditionFailedException>(r.Error);
            Assert.Equal("tags/race", e.Key);
            Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        });
        Assert.Equal($"writer {winners[0].Writer}", Encoding.ASCII.GetString(await store.ReadAllAsync("tags/race")));
    }

    [Fact]
    public async Task IfMatch_is_a_compare_and_swap()
    {
        var store = OpenStore();
        await store.PutAsync("config", "v1"u8.ToArray(), WriteCondition.IfAbsent);
        var v1 = await store.ReadVersionedAsync("config");

        await store.PutAsync("config", "v2"u8.ToArray(), WriteCondition.IfMatch(v1.Version));
        var v2 = await store.ReadVersionedAsync("config");
        Assert.Equal("v2"u8.ToArray(), v2.Data);
        Assert.NotEqual(v1.Version, v2.Version);

        // A writer that still holds v1 loses, and nothing changes.
        var stale = await Assert.ThrowsAsync<PreconditionFailedException>(async () =>
            await store.PutAsync("config", "v3"u8.ToArray(), WriteCondition.IfMatch(v1.Version)));
        Assert.Equal("config", stale.Key);
        Assert.Contains("changed by another writer", stale.Message, StringComparison.Ordinal);
        Assert.Equal("v2"u8.ToArray(), await store.ReadAllAsync("config"));

        // A quoted version (as some tools print it) means the same.
        await store.PutAsync("config", "v3"u8.ToArray(), WriteCondition.IfMatch($"\"{v2.Version}\""));
        Assert.Equal("v3"u8.ToArray(), await store.ReadAllAsync("config"));
    }

    [Fact]
    public async Task IfAbsent_on_an_existing_object_and_IfMatch_on_a_missing_one_fail()
    {
        var store = OpenStore();
        await store.PutAsync("exists", "x"u8.ToArray());
        await Assert.ThrowsAsync<PreconditionFailedException>(async () => await store.PutAsync("exists", "y"u8.ToArray(), WriteCondition.IfAbsent));
        Assert.Equal("x"u8.ToArray(), await store.ReadAllAsync("exists"));

        await Assert.ThrowsAsync<PreconditionFailedException>(async () =>
            await store.PutAsync("missing", "y"u8.ToArray(), WriteCondition.IfMatch(ETags.OfSinglePut("x"u8))));
        Assert.Null(await store.TryGetSizeAsync("missing"));
    }

    [Fact]
    public async Task The_server_check_runs_once_and_leaves_nothing_behind()
    {
        var store = OpenStore();
        await store.PutAsync("a", "1"u8.ToArray(), WriteCondition.IfAbsent);
        var putsAfterFirst = store.Statistics.Puts;
        await store.PutAsync("b", "1"u8.ToArray(), WriteCondition.IfAbsent);
        Assert.Equal(putsAfterFirst + 1, store.Statistics.Puts);
        // The probe: three PUTs (one write, two refused) and a DELETE, then the real write.
        Assert.Equal(4, putsAfterFirst);
        var keys = (await BasicOperationTests.ToListAsync(store.ListAsync(""))).Select(o => o.Key).Order(StringComparer.Ordinal);
        Assert.Equal(["a", "b"], keys);
    }

    [Fact]
    public async Task On_a_server_that_ignores_conditions_conditional_writes_are_refused()
    {
        var proxy = StartProxy();
        // The proxy plays a server that accepts conditional PUTs and ignores the condition.
        proxy.Fail(FaultKind.FakeSuccess, r => r.Method == "PUT" && (r.Headers.ContainsKey("If-None-Match") || r.Headers.ContainsKey("If-Match")));
        var store = OpenStore(endpoint: proxy.Endpoint);

        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("tags/t", "x"u8.ToArray(), WriteCondition.IfAbsent));
        Assert.IsNotType<PreconditionFailedException>(e);
        Assert.Equal("tags/t", e.Key);
        Assert.Contains("ignores conditional writes", e.Message, StringComparison.Ordinal);
        Assert.Contains("'tags/t'", e.Message, StringComparison.Ordinal);

        // The answer is remembered: no second probe, the same refusal.
        var puts = store.Statistics.Puts;
        await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("config", "x"u8.ToArray(), WriteCondition.IfMatch("abc")));
        Assert.Equal(puts, store.Statistics.Puts);

        // Unconditional writes are not affected.
        await store.PutAsync("packs/p", "data"u8.ToArray());
        Assert.Equal("data"u8.ToArray(), await store.ReadAllAsync("packs/p"));

        // Opting out sends the condition and trusts the answer.
        var trusting = OpenStore(o => o.VerifyConditionalWrites = false, proxy.Endpoint);
        await trusting.PutAsync("tags/t", "x"u8.ToArray(), WriteCondition.IfAbsent);
        Assert.Equal(1, trusting.Statistics.Puts);
    }

    [Fact]
    public async Task Conditional_writes_are_refused_above_the_single_put_size()
    {
        var store = OpenStore();
        var big = new byte[S3StoreOptions.DefaultMultipartThreshold + 1];
        var e = await Assert.ThrowsAsync<StoreException>(async () => await store.PutAsync("big", big, WriteCondition.IfAbsent));
        Assert.Contains("conditional", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.Statistics.Puts);
    }
}
