using System.Diagnostics.CodeAnalysis;

namespace Cairn.Native.Linux;

/// <summary>Flags of <c>renameat2(2)</c>.</summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Named after the flags arguments of the system call.")]
[Flags]
public enum RenameFlags
{
    None = 0,

    /// <summary>Fail with EEXIST instead of replacing an existing target.</summary>
    NoReplace = 1,

    /// <summary>Atomically swap source and target; both must exist.</summary>
    Exchange = 2,
}
