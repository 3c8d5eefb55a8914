using System.Text;

namespace Cairn.Cli;

/// <summary>
/// Standard output, whose write errors say where they happened: <c>cat SNAPSHOT FILE &gt; /dev/full</c> failed with
/// 'No space left on device' alone, which reads as though the repository or a target were full. Every command writes
/// through it (<see cref="Install"/> makes it <see cref="Console.Out"/>; <c>cat</c> writes bytes to <see cref="Open"/>).
/// </summary>
internal sealed class StandardOutput(Stream inner) : Stream
{
    /// <summary>Makes <see cref="Console.Out"/> write through this stream, as the console's own writer does: UTF-8 without a byte order mark, flushed on every write, safe across threads.</summary>
    public static void Install() =>
        Console.SetOut(TextWriter.Synchronized(new StreamWriter(Open(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { AutoFlush = true }));

    /// <summary>A new stream over standard output (a duplicate of its descriptor, closed on dispose).</summary>
    public static Stream Open() => new StandardOutput(Console.OpenStandardOutput());

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            inner.Write(buffer);
        }
        catch (IOException e)
        {
            throw new StandardOutputException(e);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new StandardOutputException(e);
        }
    }

    public override void Flush()
    {
        try
        {
            inner.Flush();
        }
        catch (IOException e)
        {
            throw new StandardOutputException(e);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Writing to standard output failed (a full device, an I/O error): said as such, on standard error, since standard output is what failed.</summary>
internal sealed class StandardOutputException(IOException inner) : CairnException($"cannot write to standard output: {inner.Message}", inner)
{
    public override string Code => "io";
}
