namespace Cairn.Native.Linux;

/// <summary>
/// Builds <c>/proc/self/fd/N/name</c>: a path that reaches an entry of an open directory by name. The xattr calls
/// have no *at form, and on an O_PATH descriptor the f*xattr calls fail with EBADF, so this is the way to reach an
/// entry (a symlink, a device) without opening it and without following it.
/// </summary>
internal static class ProcFdPath
{
    private static ReadOnlySpan<byte> Prefix => "/proc/self/fd/"u8;

    /// <summary>Bytes needed for the path of <paramref name="nameLength"/> name bytes, with the NUL.</summary>
    internal static int MaxLength(int nameLength) => Prefix.Length + 11 + 1 + nameLength + 1;

    /// <summary>Writes the NUL-terminated path and returns its length without the NUL. An empty name gives the descriptor's own link.</summary>
    internal static int Write(Span<byte> destination, int fd, ReadOnlySpan<byte> name)
    {
        Prefix.CopyTo(destination);
        var length = Prefix.Length;
        if (!fd.TryFormat(destination[length..], out var digits, provider: System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new ArgumentException("Destination too small.", nameof(destination));
        }

        length += digits;
        if (!name.IsEmpty)
        {
            destination[length++] = (byte)'/';
            name.CopyTo(destination[length..]);
            length += name.Length;
        }

        destination[length] = 0;
        return length;
    }
}
