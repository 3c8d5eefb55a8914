using System.Buffers.Binary;
using Cairn.Format;
using Cairn.Native.Hashing;

namespace Cairn.Manifests;

public static partial class ManifestCodec
{
    /// <summary>
    /// The tree hash: SHA-256 over the identity sections in id order, each as its id, its length and its bytes, taken
    /// while the sections are still being decoded. Whichever thread has just decoded a section hashes as many sections
    /// as are ready in id order, unless another thread is already at it; so the hash follows the decompression instead
    /// of waiting for the last section, and no thread ever waits for another.
    /// </summary>
    /// <remarks>
    /// For `ws` (5.2 MB of identity sections, ~4 ms to hash) this takes the hash off the end of the decode: the
    /// largest section comes first in id order, and its hash runs while the other core decompresses the rest.
    /// </remarks>
    private sealed class TreeHasher
    {
        private readonly SectionData[] _sections;
        private readonly int[] _order; // positions in _sections of the identity sections, in id order
        private readonly int[] _ready; // 1 once _sections[i] holds the decoded section
        private readonly Lock _lock = new();
        private Sha256Hasher _hash;
        private int _next; // how many of _order are hashed

        /// <param name="sections">Filled in by the decoders, in any order; <see cref="Decoded"/> says when.</param>
        /// <param name="ids">The section at each position of <paramref name="sections"/>.</param>
        public TreeHasher(SectionData[] sections, IReadOnlyList<Section> ids)
        {
            _sections = sections;
            _order = [.. Enumerable.Range(0, ids.Count).Where(i => IsIdentity(ids[i])).OrderBy(i => ids[i])];
            _ready = new int[sections.Length];
            _hash.Append(TreeHashDomain);
        }

        /// <summary>The tree hash of sections already decoded.</summary>
        public static ContentId Of(SectionData[] sections)
        {
            var hasher = new TreeHasher(sections, [.. sections.Select(s => s.Id)]);
            for (var i = 0; i < sections.Length; i++)
            {
                hasher.Decoded(i);
            }

            return hasher.Finish();
        }

        /// <summary>Marks <c>sections[index]</c> decoded, and hashes what is ready unless another thread is hashing.</summary>
        public void Decoded(int index)
        {
            // A full fence (not a release): with the fence below, either this thread sees the lock free or the thread
            // holding it sees this section ready once it lets go (a store, then a load of another location, on both).
            Interlocked.Exchange(ref _ready[index], 1);
            while (_lock.TryEnter())
            {
                try
                {
                    HashReady();
                }
                finally
                {
                    _lock.Exit();
                }

                // A thread that marked a section ready while this one held the lock gave up on it: look again. Should
                // both miss it anyway, Finish hashes what is left. _next is read once: another thread may move it on.
                Interlocked.MemoryBarrier();
                var next = Volatile.Read(ref _next);
                if (next == _order.Length || Volatile.Read(ref _ready[_order[next]]) == 0)
                {
                    return;
                }
            }
        }

        /// <summary>The hash, once every section is decoded.</summary>
        public ContentId Finish()
        {
            lock (_lock)
            {
                HashReady();
                if (_next != _order.Length)
                {
                    throw new InvalidOperationException("the tree hash was asked for before every section was decoded");
                }

                Span<byte> digest = stackalloc byte[Sha256.HashSizeInBytes];
                _hash.GetHashAndReset(digest);
                return new ContentId(digest);
            }
        }

        private void HashReady()
        {
            Span<byte> header = stackalloc byte[12];
            while (_next < _order.Length && Volatile.Read(ref _ready[_order[_next]]) == 1)
            {
                var section = _sections[_order[_next]];
                BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)section.Id);
                BinaryPrimitives.WriteUInt64LittleEndian(header[4..], (ulong)section.ByteLength);
                _hash.Append(header);
                _hash.Append(section.Bytes);
                Volatile.Write(ref _next, _next + 1);
            }
        }
    }
}
