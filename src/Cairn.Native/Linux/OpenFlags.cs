using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// Flags of <c>openat(2)</c>. The values are those of x86_64 (and of the generic Linux ABI); they are translated
/// to the native values where an architecture differs (aarch64 swaps in other bits for Directory and NoFollow).
/// </summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Named after the flags arguments of the system call.")]
[Flags]
public enum OpenFlags
{
    ReadOnly = 0,
    WriteOnly = 1,
    ReadWrite = 2,
    Create = 0x40,
    Exclusive = 0x80,
    Truncate = 0x200,

    /// <summary>
    /// O_NONBLOCK: an open that would wait does not (a FIFO without a writer, a terminal without carrier). No effect on
    /// reads of regular files.
    /// </summary>
    NonBlock = 0x800,
    Directory = 0x10000,
    NoFollow = 0x20000,
    NoAtime = 0x40000,
    CloseOnExec = 0x80000,
    Path = 0x200000,
}

internal static class OpenFlagsConversion
{
    private const OpenFlags Known = OpenFlags.WriteOnly | OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive
        | OpenFlags.Truncate | OpenFlags.NonBlock | OpenFlags.Directory | OpenFlags.NoFollow | OpenFlags.NoAtime | OpenFlags.CloseOnExec | OpenFlags.Path;

    // arm, arm64 and powerpc define O_DIRECTORY = 040000 and O_NOFOLLOW = 0100000 (arch/*/include/uapi/asm/fcntl.h);
    // there, the generic values of these two would mean O_DIRECT and O_LARGEFILE.
    private static readonly bool s_swappedDirectoryBits =
        RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Ppc64le;

    /// <summary>
    /// O_DIRECT, which has no member here: it is switched on for an open file with <see cref="LinuxFile.TrySetDirect"/>.
    /// 040000 on x86_64 and the generic ABI; arm and arm64 use 0200000 and powerpc 0400000 (their O_DIRECTORY takes 040000).
    /// </summary>
    internal static readonly int NativeDirect = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        Architecture.Ppc64le => 0x20000,
        _ => 0x4000,
    };

    /// <summary>The native flags, with O_CLOEXEC always set; -1 if <paramref name="flags"/> has unknown bits.</summary>
    internal static int ToNative(OpenFlags flags)
    {
        if ((flags & ~Known) != 0)
        {
            return -1;
        }

        var native = (int)(flags | OpenFlags.CloseOnExec);
        if (s_swappedDirectoryBits)
        {
            native &= ~(int)(OpenFlags.Directory | OpenFlags.NoFollow);
            if ((flags & OpenFlags.Directory) != 0)
            {
                native |= 0x4000;
            }

            if ((flags & OpenFlags.NoFollow) != 0)
            {
                native |= 0x8000;
            }
        }

        return native;
    }
}
