using System.Text;

namespace Cairn.Native.Linux;

/// <summary>
/// A Linux system call failed. The message is one line naming the call, the entry and the cause, e.g.
/// <c>openat 'node_modules/x': Permission denied (EACCES)</c>. <see cref="Exception.HResult"/> is the errno, as
/// for the <see cref="IOException"/>s of System.IO on Unix.
/// </summary>
public sealed class LinuxIOException : IOException
{
    public LinuxIOException(int errno, string operation, byte[]? name = null, byte[]? otherName = null)
        : this(errno, operation, name, otherName, detail: null)
    {
    }

    internal LinuxIOException(int errno, string operation, byte[]? name, byte[]? otherName, string? detail)
        : base(FormatMessage(errno, operation, name, otherName, detail), errno)
    {
        Errno = errno;
        Operation = operation;
        Name = name;
        OtherName = otherName;
    }

    /// <summary>The error number, e.g. 2 for ENOENT (see <see cref="Linux.Errno"/>).</summary>
    public int Errno { get; }

    /// <summary>The system call (or operation) that failed, e.g. <c>openat</c>.</summary>
    public string Operation { get; }

    /// <summary>The raw name the call was about, if any.</summary>
    public byte[]? Name { get; }

    /// <summary>The second name of two-name calls, if any: the new name of renameat2 and linkat, the target of symlinkat.</summary>
    public byte[]? OtherName { get; }

    private static string FormatMessage(int errno, string operation, byte[]? name, byte[]? otherName, string? detail)
    {
        var message = new StringBuilder(operation);
        if (name is not null)
        {
            message.Append(" '").Append(PathBytes.Display(name)).Append('\'');
        }

        if (otherName is not null)
        {
            message.Append(" -> '").Append(PathBytes.Display(otherName)).Append('\'');
        }

        if (detail is not null)
        {
            message.Append(" (").Append(detail).Append(')');
        }

        message.Append(": ").Append(Linux.Errno.GetDescription(errno));
        var symbol = Linux.Errno.GetName(errno);
        message.Append(symbol is null ? $" (errno {errno})" : $" ({symbol})");
        return message.ToString();
    }
}
