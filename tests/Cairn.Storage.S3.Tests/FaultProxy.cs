using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cairn.Storage.S3.Tests;

/// <summary>What the proxy does to a request that matches a rule.</summary>
public enum FaultKind
{
    /// <summary>Answer <c>503 SlowDown</c> without passing the request on.</summary>
    SlowDown,

    /// <summary>Pass the request on, send the client the response head and half the body, then reset the connection.</summary>
    ResetMidResponse,

    /// <summary>Send nothing for <see cref="FaultRule.Stall"/>, then close the connection; the request never reaches the server.</summary>
    Stall,

    /// <summary>Pass the request on, send the response head and half the body, then nothing for <see cref="FaultRule.Stall"/>.</summary>
    StallMidBody,

    /// <summary>Answer <c>200 OK</c> without passing the request on: a server that accepts a request and ignores it.</summary>
    FakeSuccess,
}

/// <summary>A rule: requests it matches get its fault, <see cref="Times"/> times.</summary>
public sealed class FaultRule
{
    private int _remaining;

    public FaultRule(FaultKind kind, Func<ProxiedRequest, bool> match, int times = int.MaxValue, TimeSpan stall = default)
    {
        Kind = kind;
        Match = match;
        Times = times;
        Stall = stall == default ? TimeSpan.FromSeconds(30) : stall;
        _remaining = times;
    }

    public FaultKind Kind { get; }

    public Func<ProxiedRequest, bool> Match { get; }

    public int Times { get; }

    public TimeSpan Stall { get; }

    /// <summary>How often the rule fired.</summary>
    public int Hits => Times - Volatile.Read(ref _remaining);

    internal bool TryTake()
    {
        while (true)
        {
            var remaining = Volatile.Read(ref _remaining);
            if (remaining <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _remaining, remaining - 1, remaining) == remaining)
            {
                return true;
            }
        }
    }
}

/// <summary>A request as the proxy saw it.</summary>
public sealed record ProxiedRequest(string Method, string Target, IReadOnlyDictionary<string, string> Headers)
{
    /// <summary>The path, without the query.</summary>
    public string Path => Target.Split('?')[0];

    /// <summary>The query string without the <c>?</c> (empty if none).</summary>
    public string Query => Target.Contains('?', StringComparison.Ordinal) ? Target[(Target.IndexOf('?', StringComparison.Ordinal) + 1)..] : string.Empty;

    /// <summary>Payload bytes: <c>x-amz-decoded-content-length</c> for aws-chunked uploads, else Content-Length.</summary>
    public long PayloadLength =>
        Headers.TryGetValue("x-amz-decoded-content-length", out var decoded) ? long.Parse(decoded, CultureInfo.InvariantCulture)
        : Headers.TryGetValue("Content-Length", out var length) ? long.Parse(length, CultureInfo.InvariantCulture) : 0;

    /// <summary>The fault the proxy applied, if any.</summary>
    public FaultKind? Fault { get; init; }

    /// <summary>True when the request is about object <paramref name="objectKey"/> (path-style: <c>/bucket/key</c>).</summary>
    public bool IsFor(string objectKey) => Uri.UnescapeDataString(Path).EndsWith("/" + objectKey, StringComparison.Ordinal);
}

/// <summary>
/// An HTTP/1.1 proxy on 127.0.0.1 (ephemeral port) in front of a real S3 server, for fault tests: requests
/// pass through unchanged (the Host header too, so SigV4 signatures stay valid) unless a <see cref="FaultRule"/>
/// matches, in which case the proxy answers 503 SlowDown, resets the connection in the middle of the response,
/// or stalls. Every request is recorded in <see cref="Requests"/>.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly DnsEndPoint _upstream;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<FaultRule> _rules = new();
    private readonly ConcurrentQueue<ProxiedRequest> _requests = new();
    private readonly ConcurrentDictionary<Task, bool> _connections = new();
    private readonly Task _acceptLoop;
    private int _disposed;

    public FaultProxy(Uri upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        _upstream = new DnsEndPoint(upstream.Host, upstream.Port);
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Where clients connect.</summary>
    public Uri Endpoint { get; }

    /// <summary>Requests seen so far, in arrival order.</summary>
    public IReadOnlyList<ProxiedRequest> Requests => [.. _requests];

    /// <summary>Adds a rule; rules are tried in the order they were added.</summary>
    public FaultRule AddRule(FaultRule rule)
    {
        _rules.Enqueue(rule);
        return rule;
    }

    /// <summary>Shorthand: <paramref name="kind"/> for the next <paramref name="times"/> requests that match.</summary>
    public FaultRule Fail(FaultKind kind, Func<ProxiedRequest, bool> match, int times = int.MaxValue, TimeSpan stall = default) =>
        AddRule(new FaultRule(kind, match, times, stall));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await Task.WhenAll(_connections.Keys.Append(_acceptLoop)).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var task = ServeAsync(client);
            _connections[task] = true;
            _ = task.ContinueWith(t => _connections.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        TcpClient? upstream = null;
        try
        {
            client.NoDelay = true;
            var clientStream = client.GetStream();
            var fromClient = new HttpWireReader(clientStream);
            HttpWireReader? fromUpstream = null;
            var token = _stop.Token;
            while (true)
            {
                var head = await fromClient.ReadHeadAsync(token).ConfigureAwait(false);
                if (head is null)
                {
                    return;
                }

                var parts = head.StartLine.Split(' ');
                var request = new ProxiedRequest(parts[0], parts[1], head.Headers);
                var rule = _rules.FirstOrDefault(r => r.Match(request) && r.TryTake());
                _requests.Enqueue(request with { Fault = rule?.Kind });

                switch (rule?.Kind)
                {
                    case FaultKind.SlowDown:
                        await AnswerAsync(client, head, fromClient, "503 Slow Down", SlowDownBody, token).ConfigureAwait(false);
                        return;
                    case FaultKind.FakeSuccess:
                        await AnswerAsync(client, head, fromClient, "200 OK", string.Empty, token).ConfigureAwait(false);
                        return;
                    case FaultKind.Stall:
                        await Task.Delay(rule.Stall, token).ConfigureAwait(false);
                        return;
                }

                if (upstream is null)
                {
                    upstream = new TcpClient { NoDelay = true };
                    await upstream.ConnectAsync(_upstream.Host, _upstream.Port, token).ConfigureAwait(false);
                    fromUpstream = new HttpWireReader(upstream.GetStream());
                }

                var keepOpen = await ForwardAsync(head, request, fromClient, clientStream, fromUpstream!, upstream.GetStream(), rule, client, token).ConfigureAwait(false);
                if (!keepOpen)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client or the server went away, or the proxy is stopping.
        }
        finally
        {
            upstream?.Dispose();
            client.Dispose();
        }
    }

    /// <summary>Forwards one exchange; false when the connection must be closed afterwards.</summary>
    private static async Task<bool> ForwardAsync(HttpHead head, ProxiedRequest request, HttpWireReader fromClient, NetworkStream toClient,
        HttpWireReader fromUpstream, NetworkStream toUpstream, FaultRule? rule, TcpClient client, CancellationToken token)
    {
        await toUpstream.WriteAsync(head.Raw, token).ConfigureAwait(false);
        // The body goes up while the response heads come down: a client that sent Expect: 100-continue
        // waits for the server's 100 before it sends the body.
        var body = CopyBodyAsync(head, fromClient, toUpstream, token);
        HttpHead response;
        while (true)
        {
            response = await fromUpstream.ReadHeadAsync(token).ConfigureAwait(false) ?? throw new IOException("server closed the connection");
            if (response.Status >= 200)
            {
                break;
            }

            await toClient.WriteAsync(response.Raw, token).ConfigureAwait(false);
        }

        var bodyless = request.Method == "HEAD" || response.Status is 204 or 304;
        var length = bodyless ? 0 : response.ContentLength;
        if (rule?.Kind is FaultKind.ResetMidResponse or FaultKind.StallMidBody)
        {
            if (length is > 0)
            {
                await toClient.WriteAsync(response.Raw, token).ConfigureAwait(false);
                await fromUpstream.CopyAsync(length.Value / 2, toClient, token).ConfigureAwait(false);
                await toClient.FlushAsync(token).ConfigureAwait(false);
            }

            if (rule.Kind == FaultKind.StallMidBody)
            {
                await Task.Delay(rule.Stall, token).ConfigureAwait(false);
            }
            else
            {
                // Linger 0: close sends a RST, the client sees "connection reset by peer".
                client.Client.LingerState = new LingerOption(true, 0);
                client.Client.Close();
            }

            return false;
        }

        await toClient.WriteAsync(response.Raw, token).ConfigureAwait(false);
        if (length is { } n)
        {
            await fromUpstream.CopyAsync(n, toClient, token).ConfigureAwait(false);
        }
        else if (response.IsChunked)
        {
            await fromUpstream.CopyChunkedAsync(toClient, token).ConfigureAwait(false);
        }
        else
        {
            await fromUpstream.CopyToEndAsync(toClient, token).ConfigureAwait(false);
            return false;
        }

        // A final answer before the whole body went up (an early error): the connection is out of step.
        if (!body.IsCompleted)
        {
            return false;
        }

        await body.ConfigureAwait(false);
        return !response.WantsClose && !head.WantsClose;
    }

    private static Task CopyBodyAsync(HttpHead head, HttpWireReader from, Stream to, CancellationToken token)
    {
        if (head.IsChunked)
        {
            return from.CopyChunkedAsync(to, token);
        }

        return head.ContentLength is { } length and > 0 ? from.CopyAsync(length, to, token) : Task.CompletedTask;
    }

    private const string SlowDownBody = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

    /// <summary>Answers the request itself and closes the connection.</summary>
    private static async Task AnswerAsync(TcpClient client, HttpHead head, HttpWireReader fromClient, string status, string xml, CancellationToken token)
    {
        var stream = client.GetStream();
        // Read the body first (unless the client waits for 100-continue and will not send it):
        // closing a socket with unread data would reset the connection instead of answering.
        if (head["Expect"]?.Contains("100-continue", StringComparison.OrdinalIgnoreCase) != true)
        {
            await CopyBodyAsync(head, fromClient, Stream.Null, token).ConfigureAwait(false);
        }

        var response = $"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nETag: \"00000000000000000000000000000000\"\r\n"
            + $"Content-Length: {Encoding.UTF8.GetByteCount(xml)}\r\nConnection: close\r\n\r\n{xml}";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(response), token).ConfigureAwait(false);
        await stream.FlushAsync(token).ConfigureAwait(false);
        client.Client.Shutdown(SocketShutdown.Send);
    }
}
