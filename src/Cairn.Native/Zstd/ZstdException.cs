namespace Cairn.Native.Zstd;

/// <summary>libzstd reported an error that is not about the input data (bad parameter, out of memory).</summary>
public sealed class ZstdException : Exception
{
    public ZstdException(string message)
        : base(message)
    {
    }
}
