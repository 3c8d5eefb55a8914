namespace Cairn.Native.Linux;

/// <summary>
/// One entry of a directory listing. <paramref name="Name"/> is the raw name (no NUL, never "." or "..").
/// <paramref name="Kind"/> comes from <c>d_type</c> and is <see cref="FileKind.Unknown"/> on file systems that do not fill it in.
/// </summary>
public readonly record struct DirectoryEntry(byte[] Name, FileKind Kind, ulong Inode);
