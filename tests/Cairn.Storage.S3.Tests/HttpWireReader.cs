using System.Globalization;
using System.Text;

namespace Cairn.Storage.S3.Tests;

/// <summary>
/// Buffered reading of HTTP/1.1 messages off a socket stream, for <see cref="FaultProxy"/>: message heads,
/// and bodies framed by Content-Length or chunked encoding, copied through byte for byte.
/// </summary>
internal sealed class HttpWireReader
{
    private const int MaxHead = 64 * 1024;
    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public HttpWireReader(Stream stream) => _stream = stream;

    /// <summary>Reads up to and including the blank line; null at a clean end of stream.</summary>
    public async Task<HttpHead?> ReadHeadAsync(CancellationToken cancellationToken)
    {
        var head = new MemoryStream();
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                return head.Length == 0 ? null : throw new IOException("connection closed inside a message head");
            }

            head.Write(line);
            if (head.Length > MaxHead)
            {
                throw new IOException("message head too large");
            }

            if (line.Length == 2)
            {
                return HttpHead.Parse(head.ToArray());
            }
        }
    }

    /// <summary>Copies exactly <paramref name="count"/> bytes to <paramref name="destination"/>.</summary>
    public async Task CopyAsync(long count, Stream destination, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new IOException("connection closed inside a message body");
            }

            var n = (int)Math.Min(count, _end - _start);
            await destination.WriteAsync(_buffer.AsMemory(_start, n), cancellationToken).ConfigureAwait(false);
            _start += n;
            count -= n;
        }
    }

    /// <summary>Copies a chunked body (chunks, last chunk, trailers) to <paramref name="destination"/> as is.</summary>
    public async Task CopyChunkedAsync(Stream destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false) ?? throw new IOException("connection closed inside a chunked body");
            await destination.WriteAsync(line, cancellationToken).ConfigureAwait(false);
            var text = Encoding.ASCII.GetString(line).Trim();
            var semicolon = text.IndexOf(';', StringComparison.Ordinal);
            var size = long.Parse(semicolon < 0 ? text : text[..semicolon], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                // Trailers, up to the blank line.
                while (true)
                {
                    var trailer = await ReadLineAsync(cancellationToken).ConfigureAwait(false) ?? throw new IOException("connection closed inside chunked trailers");
                    await destination.WriteAsync(trailer, cancellationToken).ConfigureAwait(false);
                    if (trailer.Length == 2)
                    {
                        return;
                    }
                }
            }

            await CopyAsync(size + 2, destination, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies until the peer closes (a response without length framing).</summary>
    public async Task CopyToEndAsync(Stream destination, CancellationToken cancellationToken)
    {
        while (_start < _end || await FillAsync(cancellationToken).ConfigureAwait(false))
        {
            await destination.WriteAsync(_buffer.AsMemory(_start, _end - _start), cancellationToken).ConfigureAwait(false);
            _start = _end;
        }
    }

    private async Task<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new MemoryStream();
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                return line.Length == 0 ? null : throw new IOException("connection closed inside a line");
            }

            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            var stop = newline < 0 ? _end : newline + 1;
            line.Write(_buffer, _start, stop - _start);
            _start = stop;
            if (newline >= 0)
            {
                return line.ToArray();
            }

            if (line.Length > MaxHead)
            {
                throw new IOException("line too long");
            }
        }
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        _start = 0;
        _end = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
        return _end > 0;
    }
}

/// <summary>A parsed message head (request or status line plus headers) and its raw bytes.</summary>
internal sealed class HttpHead
{
    private HttpHead(byte[] raw, string startLine, Dictionary<string, string> headers)
    {
        Raw = raw;
        StartLine = startLine;
        Headers = headers;
    }

    public byte[] Raw { get; }

    public string StartLine { get; }

    public IReadOnlyDictionary<string, string> Headers { get; }

    public string? this[string name] => Headers.TryGetValue(name, out var value) ? value : null;

    /// <summary>For a response: the status code.</summary>
    public int Status => int.Parse(StartLine.Split(' ')[1], CultureInfo.InvariantCulture);

    public long? ContentLength => this["Content-Length"] is { } value ? long.Parse(value, CultureInfo.InvariantCulture) : null;

    public bool IsChunked => this["Transfer-Encoding"]?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true;

    public bool WantsClose => this["Connection"]?.Contains("close", StringComparison.OrdinalIgnoreCase) == true;

    public static HttpHead Parse(byte[] raw)
    {
        var lines = Encoding.ASCII.GetString(raw).Split("\r\n");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return new HttpHead(raw, lines[0], headers);
    }
}
