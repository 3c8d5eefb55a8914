using System.Buffers;
using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    private const int DirectoryBufferSize = 64 * 1024;

    /// <summary>
    /// All entries of <paramref name="directory"/> except "." and "..", in the file system's order. Rewinds first, so it
    /// can be called again on the same descriptor; the position is shared, so not from two threads at once.
    /// </summary>
    public static unsafe List<DirectoryEntry> ReadDirectory(FileDescriptor directory)
    {
        long position;
        do
        {
            position = Libc.LSeek(directory, 0, Libc.SeekSet);
        }
        while (Interrupted(position));

        if (position < 0)
        {
            ThrowIO(LastErrno, "lseek", directory);
        }

        var entries = new List<DirectoryEntry>();
        var buffer = ArrayPool<byte>.Shared.Rent(DirectoryBufferSize);
        try
        {
            while (true)
            {
                nint length;
                fixed (byte* b = buffer)
                {
                    do
                    {
                        length = Libc.GetDents64(directory, b, (nuint)buffer.Length);
                    }
                    while (Interrupted(length));
                }

                if (length < 0)
                {
                    ThrowIO(LastErrno, "getdents64", directory);
                }

                if (length == 0)
                {
                    return entries;
                }

                ParseDirents(buffer.AsSpan(0, (int)length), entries);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Parses records of <c>struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }</c>.</summary>
    private static void ParseDirents(ReadOnlySpan<byte> records, List<DirectoryEntry> entries)
    {
        const int NameOffset = 19;
        while (!records.IsEmpty)
        {
            var inode = MemoryMarshal.Read<ulong>(records);
            var recordLength = MemoryMarshal.Read<ushort>(records[16..]);
            var type = records[18];

            // d_name is NUL-terminated and padded to 8-byte alignment within the record.
            var name = records[NameOffset..recordLength];
            name = name[..name.IndexOf((byte)0)];
            records = records[recordLength..];

            if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
            {
                continue;
            }

            entries.Add(new DirectoryEntry(name.ToArray(), FileKinds.FromDirentType(type), inode));
        }
    }
}
