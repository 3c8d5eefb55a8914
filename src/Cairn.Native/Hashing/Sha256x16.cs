using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cairn.Native.Hashing;

/// <summary>
/// SHA-256 of sixteen messages at once, one per 32-bit lane of the AVX-512 registers (the "multi-buffer" technique of
/// Intel's ISA-L and of the Linux kernel's dm-verity hashing). A restore verifies an image as thousands of independent
/// 4 KiB blocks, and a snapshot names them the same way: there is always a batch to hash.
/// </summary>
/// <remarks>
/// Why: the CPU's SHA instructions hash one message at a time, and each round waits for the one before it. Sixteen
/// lanes of plain vector arithmetic (rotates and three-input logic are single AVX-512 instructions) hash 4 KiB blocks
/// in 0.52x the time nettle takes with those instructions (docs/benchmarks.md, "SHA-256 over many messages"). Below
/// <see cref="BreakEven"/> messages too many lanes would idle, and <see cref="Sha256.HashMany"/> hashes them one by one.
/// <para>
/// Each lane walks its own message: its whole 64-byte blocks in place, then one or two padding blocks built aside.
/// Messages go to lanes longest first, so a batch of mixed lengths ends with short messages in flight, not one long
/// message with fifteen idle lanes; and once no message waits and fewer than <see cref="HandOffBelow"/> lanes are
/// busy, their messages are finished one by one by nettle, from the state the lanes reached (a frame of a tree's
/// chunks is a handful of 16–256 KiB messages, whose longest would otherwise run nearly alone). An idle lane hashes a
/// zero block whose result is dropped.
/// </para>
/// </remarks>
internal static unsafe class Sha256x16
{
    private const int Lanes = 16;
    private const int BlockSize = 64;

    /// <summary>
    /// A step of the sixteen lanes costs what nettle takes for about eight blocks one by one (16 blocks at 0.52x the
    /// time): batches of fewer messages are hashed one by one, and lanes are kept while at least one fewer are busy,
    /// around the break-even either way costing the same.
    /// </summary>
    internal const int BreakEven = 8;

    private const int HandOffBelow = BreakEven - 1;

    // Up to this many messages, the order and its sort keys live on the stack.
    private const int StackOrderLimit = 1024;

    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported;

    private static ReadOnlySpan<uint> InitialState => [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

    private static ReadOnlySpan<uint> RoundConstants =>
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// <summary>Hashes every message of <paramref name="messages"/> (already checked to lie inside <paramref name="source"/>).</summary>
    public static void HashMany(ReadOnlySpan<byte> source, ReadOnlySpan<MessageRange> messages, Span<byte> digests)
    {
        var count = messages.Length;
        int[]? rented = null;
        var scratch = count <= StackOrderLimit ? stackalloc int[2 * count] : (rented = ArrayPool<int>.Shared.Rent(2 * count)).AsSpan(0, 2 * count);
        try
        {
            var order = scratch[..count];
            LongestFirst(messages, order, scratch[count..]);
            fixed (byte* sourceBytes = source)
            fixed (byte* digestBytes = digests)
            fixed (MessageRange* ranges = messages)
            fixed (int* orderFirst = order)
            {
                Run(sourceBytes, ranges, orderFirst, count, digestBytes);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Fills <paramref name="order"/> with the message indexes, longest message first (as given when all lengths are equal).</summary>
    private static void LongestFirst(ReadOnlySpan<MessageRange> messages, Span<int> order, Span<int> keys)
    {
        var equal = true;
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
            keys[i] = -messages[i].Length;
            equal &= messages[i].Length == messages[0].Length;
        }

        if (!equal)
        {
            keys.Sort(order);
        }
    }

    /// <summary>Where one lane is: the rest of its message's whole blocks, then its padding blocks.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Lane
    {
        public byte* Data;
        public byte* Padding;
        public int DataBlocks;
        public int PaddingBlocks;
        public int Message; // -1: idle
    }

    private static void Run(byte* source, MessageRange* messages, int* order, int count, byte* digests)
    {
        var lanes = stackalloc Lane[Lanes];
        var padding = stackalloc byte[Lanes * 2 * BlockSize];
        var idleBlock = stackalloc byte[BlockSize];
        var blocks = stackalloc byte*[Lanes];
        var words = stackalloc uint[8 * Lanes]; // the state, word-major: word j of lane i at [j * 16 + i]
        new Span<byte>(idleBlock, BlockSize).Clear();

        var next = 0;
        var active = 0;
        for (var lane = 0; lane < Lanes; lane++)
        {
            active += Assign(lane, lanes, padding, words, source, messages, order, count, ref next);
        }

        var state = Load(words);
        var schedule = default(Schedule16);
        while (active > 0)
        {
            for (var lane = 0; lane < Lanes; lane++)
            {
                blocks[lane] = NextBlock(ref lanes[lane], idleBlock);
            }

            LoadBlocks(blocks, ref schedule);
            Compress(ref state, ref schedule);

            var stored = false;
            for (var lane = 0; lane < Lanes; lane++)
            {
                ref var l = ref lanes[lane];
                if (l.Message < 0 || l.DataBlocks != 0 || l.PaddingBlocks != 0)
                {
                    continue;
                }

                if (!stored)
                {
                    Store(state, words);
                    stored = true;
                }

                var digest = digests + ((nint)l.Message * Sha256.HashSizeInBytes);
                for (var j = 0; j < 8; j++)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(digest + (j * 4), 4), words[(j * Lanes) + lane]);
                }

                active--;
                active += Assign(lane, lanes, padding, words, source, messages, order, count, ref next);
            }

            if (next == count && active is > 0 and < HandOffBelow)
            {
                if (!stored)
                {
                    Store(state, words);
                }

                active -= HandOff(lanes, words, messages, digests);
                stored = false; // the lanes still busy keep their state; the others are idle
            }

            if (stored)
            {
                state = Load(words);
            }
        }
    }

    /// <summary>
    /// Finishes, through nettle, the message of every busy lane that has not started its padding, from the state in
    /// <paramref name="words"/>; those lanes go idle. Returns how many. (A lane in the middle of two padding blocks
    /// has one step left and stays.)
    /// </summary>
    private static int HandOff(Lane* lanes, uint* words, MessageRange* messages, byte* digests)
    {
        Span<uint> state = stackalloc uint[8];
        var finished = 0;
        for (var lane = 0; lane < Lanes; lane++)
        {
            ref var l = ref lanes[lane];
            if (l.Message < 0)
            {
                continue;
            }

            var length = messages[l.Message].Length;
            if (l.PaddingBlocks != PaddingBlocks(length))
            {
                continue;
            }

            for (var j = 0; j < 8; j++)
            {
                state[j] = words[(j * Lanes) + lane];
            }

            var hasher = Sha256Hasher.Resume(state, (ulong)((length / BlockSize) - l.DataBlocks));
            hasher.Append(new ReadOnlySpan<byte>(l.Data, (l.DataBlocks * BlockSize) + (length % BlockSize)));
            hasher.GetHashAndReset(new Span<byte>(digests + ((nint)l.Message * Sha256.HashSizeInBytes), Sha256.HashSizeInBytes));
            l = default;
            l.Message = -1;
            finished++;
        }

        return finished;
    }

    /// <summary>Gives <paramref name="lane"/> the next message, if any: its blocks, its padding, the initial state. Returns 1 if it got one.</summary>
    private static int Assign(int lane, Lane* lanes, byte* padding, uint* words, byte* source, MessageRange* messages, int* order, int count, ref int next)
    {
        ref var l = ref lanes[lane];
        if (next == count)
        {
            l = default;
            l.Message = -1;
            return 0;
        }

        var message = order[next++];
        var range = messages[message];
        var whole = range.Length / BlockSize;
        var tail = range.Length % BlockSize;
        l.Message = message;
        l.Data = source + range.Offset;
        l.DataBlocks = whole;

        // The padding: the tail, 0x80, zeros, the length in bits (big-endian) in the last 8 bytes of one or two blocks.
        l.Padding = padding + (lane * 2 * BlockSize);
        l.PaddingBlocks = PaddingBlocks(range.Length);
        var pad = new Span<byte>(l.Padding, l.PaddingBlocks * BlockSize);
        pad.Clear();
        new ReadOnlySpan<byte>(l.Data + (whole * BlockSize), tail).CopyTo(pad);
        pad[tail] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(pad[^8..], (ulong)range.Length * 8);

        for (var j = 0; j < 8; j++)
        {
            words[(j * Lanes) + lane] = InitialState[j];
        }

        return 1;
    }

    /// <summary>One padding block if the tail leaves room for 0x80 and the 8-byte length, else two.</summary>
    private static int PaddingBlocks(int length) => length % BlockSize < BlockSize - 8 ? 1 : 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* NextBlock(ref Lane l, byte* idleBlock)
    {
        byte* block;
        if (l.DataBlocks > 0)
        {
            block = l.Data;
            l.Data += BlockSize;
            l.DataBlocks--;
        }
        else if (l.PaddingBlocks > 0)
        {
            block = l.Padding;
            l.Padding += BlockSize;
            l.PaddingBlocks--;
        }
        else
        {
            block = idleBlock;
        }

        return block;
    }

    private struct State
    {
        public Vector512<uint> A, B, C, D, E, F, G, H;
    }

    /// <summary>The message schedule's sliding window: sixteen words of every lane.</summary>
    [InlineArray(16)]
    private struct Schedule16
    {
        private Vector512<uint> _element;
    }

    private static State Load(uint* words) => new()
    {
        A = Vector512.Load(words),
        B = Vector512.Load(words + Lanes),
        C = Vector512.Load(words + (2 * Lanes)),
        D = Vector512.Load(words + (3 * Lanes)),
        E = Vector512.Load(words + (4 * Lanes)),
        F = Vector512.Load(words + (5 * Lanes)),
        G = Vector512.Load(words + (6 * Lanes)),
        H = Vector512.Load(words + (7 * Lanes)),
    };

    private static void Store(in State s, uint* words)
    {
        s.A.Store(words);
        s.B.Store(words + Lanes);
        s.C.Store(words + (2 * Lanes));
        s.D.Store(words + (3 * Lanes));
        s.E.Store(words + (4 * Lanes));
        s.F.Store(words + (5 * Lanes));
        s.G.Store(words + (6 * Lanes));
        s.H.Store(words + (7 * Lanes));
    }

    /// <summary>
    /// Loads one 64-byte block per lane and transposes the 16x16 matrix of 32-bit words, so that vector j holds word j
    /// of every lane's block, byte-swapped to SHA-256's big-endian words. Four rounds of two-input shuffles, 64 in all.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadBlocks(byte** blocks, ref Schedule16 w)
    {
        var r0 = Vector512.Load((uint*)blocks[0]);
        var r1 = Vector512.Load((uint*)blocks[1]);
        var r2 = Vector512.Load((uint*)blocks[2]);
        var r3 = Vector512.Load((uint*)blocks[3]);
        var r4 = Vector512.Load((uint*)blocks[4]);
        var r5 = Vector512.Load((uint*)blocks[5]);
        var r6 = Vector512.Load((uint*)blocks[6]);
        var r7 = Vector512.Load((uint*)blocks[7]);
        var r8 = Vector512.Load((uint*)blocks[8]);
        var r9 = Vector512.Load((uint*)blocks[9]);
        var r10 = Vector512.Load((uint*)blocks[10]);
        var r11 = Vector512.Load((uint*)blocks[11]);
        var r12 = Vector512.Load((uint*)blocks[12]);
        var r13 = Vector512.Load((uint*)blocks[13]);
        var r14 = Vector512.Load((uint*)blocks[14]);
        var r15 = Vector512.Load((uint*)blocks[15]);

        // 1: interleave the words of row pairs.
        var t0 = Avx512F.UnpackLow(r0, r1);
        var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3);
        var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5);
        var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7);
        var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9);
        var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11);
        var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13);
        var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15);
        var t15 = Avx512F.UnpackHigh(r14, r15);

        // 2: interleave pairs of words. Now, in each 128-bit part k, u0 holds word 4k of rows 0-3, u1 word 4k+1,
        // u2 word 4k+2, u3 word 4k+3; u4-u7 the same for rows 4-7, u8-u11 rows 8-11, u12-u15 rows 12-15.
        var u0 = UnpackLow64(t0, t2);
        var u1 = UnpackHigh64(t0, t2);
        var u2 = UnpackLow64(t1, t3);
        var u3 = UnpackHigh64(t1, t3);
        var u4 = UnpackLow64(t4, t6);
        var u5 = UnpackHigh64(t4, t6);
        var u6 = UnpackLow64(t5, t7);
        var u7 = UnpackHigh64(t5, t7);
        var u8 = UnpackLow64(t8, t10);
        var u9 = UnpackHigh64(t8, t10);
        var u10 = UnpackLow64(t9, t11);
        var u11 = UnpackHigh64(t9, t11);
        var u12 = UnpackLow64(t12, t14);
        var u13 = UnpackHigh64(t12, t14);
        var u14 = UnpackLow64(t13, t15);
        var u15 = UnpackHigh64(t13, t15);

        // 3: gather 128-bit parts: v0 = (u0 part 0, u0 part 2, u4 part 0, u4 part 2), v1 = the odd parts.
        var v0 = Avx512F.Shuffle4x128(u0, u4, 0x88);
        var v1 = Avx512F.Shuffle4x128(u0, u4, 0xDD);
        var v2 = Avx512F.Shuffle4x128(u1, u5, 0x88);
        var v3 = Avx512F.Shuffle4x128(u1, u5, 0xDD);
        var v4 = Avx512F.Shuffle4x128(u2, u6, 0x88);
        var v5 = Avx512F.Shuffle4x128(u2, u6, 0xDD);
        var v6 = Avx512F.Shuffle4x128(u3, u7, 0x88);
        var v7 = Avx512F.Shuffle4x128(u3, u7, 0xDD);
        var v8 = Avx512F.Shuffle4x128(u8, u12, 0x88);
        var v9 = Avx512F.Shuffle4x128(u8, u12, 0xDD);
        var v10 = Avx512F.Shuffle4x128(u9, u13, 0x88);
        var v11 = Avx512F.Shuffle4x128(u9, u13, 0xDD);
        var v12 = Avx512F.Shuffle4x128(u10, u14, 0x88);
        var v13 = Avx512F.Shuffle4x128(u10, u14, 0xDD);
        var v14 = Avx512F.Shuffle4x128(u11, u15, 0x88);
        var v15 = Avx512F.Shuffle4x128(u11, u15, 0xDD);

        // 4: the same once more gives word j of rows 0-15 in order.
        w[0] = BigEndian(Avx512F.Shuffle4x128(v0, v8, 0x88));
        w[8] = BigEndian(Avx512F.Shuffle4x128(v0, v8, 0xDD));
        w[4] = BigEndian(Avx512F.Shuffle4x128(v1, v9, 0x88));
        w[12] = BigEndian(Avx512F.Shuffle4x128(v1, v9, 0xDD));
        w[1] = BigEndian(Avx512F.Shuffle4x128(v2, v10, 0x88));
        w[9] = BigEndian(Avx512F.Shuffle4x128(v2, v10, 0xDD));
        w[5] = BigEndian(Avx512F.Shuffle4x128(v3, v11, 0x88));
        w[13] = BigEndian(Avx512F.Shuffle4x128(v3, v11, 0xDD));
        w[2] = BigEndian(Avx512F.Shuffle4x128(v4, v12, 0x88));
        w[10] = BigEndian(Avx512F.Shuffle4x128(v4, v12, 0xDD));
        w[6] = BigEndian(Avx512F.Shuffle4x128(v5, v13, 0x88));
        w[14] = BigEndian(Avx512F.Shuffle4x128(v5, v13, 0xDD));
        w[3] = BigEndian(Avx512F.Shuffle4x128(v6, v14, 0x88));
        w[11] = BigEndian(Avx512F.Shuffle4x128(v6, v14, 0xDD));
        w[7] = BigEndian(Avx512F.Shuffle4x128(v7, v15, 0x88));
        w[15] = BigEndian(Avx512F.Shuffle4x128(v7, v15, 0xDD));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> UnpackLow64(Vector512<uint> left, Vector512<uint> right) =>
        Avx512F.UnpackLow(left.AsUInt64(), right.AsUInt64()).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> UnpackHigh64(Vector512<uint> left, Vector512<uint> right) =>
        Avx512F.UnpackHigh(left.AsUInt64(), right.AsUInt64()).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> BigEndian(Vector512<uint> v) =>
        Avx512BW.Shuffle(v.AsByte(), Vector512.Create((byte)3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)).AsUInt32();

    /// <summary>
    /// One round of FIPS 180-4 for every lane. The eight working variables rotate by renaming: the caller passes them
    /// shifted by one each round, so only d and h are written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(Vector512<uint> a, Vector512<uint> b, Vector512<uint> c, ref Vector512<uint> d, Vector512<uint> e, Vector512<uint> f, Vector512<uint> g, ref Vector512<uint> h, Vector512<uint> wk)
    {
        // 0x96 = x ^ y ^ z; 0xCA = x ? y : z (Ch); 0xE8 = majority (Maj).
        var sigma1 = Avx512F.TernaryLogic(Avx512F.RotateRight(e, 6), Avx512F.RotateRight(e, 11), Avx512F.RotateRight(e, 25), 0x96);
        var t1 = h + sigma1 + Avx512F.TernaryLogic(e, f, g, 0xCA) + wk;
        var sigma0 = Avx512F.TernaryLogic(Avx512F.RotateRight(a, 2), Avx512F.RotateRight(a, 13), Avx512F.RotateRight(a, 22), 0x96);
        d += t1;
        h = t1 + sigma0 + Avx512F.TernaryLogic(a, b, c, 0xE8);
    }

    /// <summary>W[t] from the sliding window (t ≥ 16), stored in place of W[t - 16].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Expand(ref Schedule16 w, int t)
    {
        var w15 = w[(t - 15) & 15];
        var w2 = w[(t - 2) & 15];
        var s0 = Avx512F.TernaryLogic(Avx512F.RotateRight(w15, 7), Avx512F.RotateRight(w15, 18), Avx512F.ShiftRightLogical(w15, 3), 0x96);
        var s1 = Avx512F.TernaryLogic(Avx512F.RotateRight(w2, 17), Avx512F.RotateRight(w2, 19), Avx512F.ShiftRightLogical(w2, 10), 0x96);
        var next = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
        w[t & 15] = next;
        return next;
    }

    private static void Compress(ref State s, ref Schedule16 w)
    {
        var (a, b, c, d, e, f, g, h) = (s.A, s.B, s.C, s.D, s.E, s.F, s.G, s.H);
        var k = RoundConstants;
        for (var t = 0; t < 16; t += 8)
        {
            Round(a, b, c, ref d, e, f, g, ref h, w[t] + Vector512.Create(k[t]));
            Round(h, a, b, ref c, d, e, f, ref g, w[t + 1] + Vector512.Create(k[t + 1]));
            Round(g, h, a, ref b, c, d, e, ref f, w[t + 2] + Vector512.Create(k[t + 2]));
            Round(f, g, h, ref a, b, c, d, ref e, w[t + 3] + Vector512.Create(k[t + 3]));
            Round(e, f, g, ref h, a, b, c, ref d, w[t + 4] + Vector512.Create(k[t + 4]));
            Round(d, e, f, ref g, h, a, b, ref c, w[t + 5] + Vector512.Create(k[t + 5]));
            Round(c, d, e, ref f, g, h, a, ref b, w[t + 6] + Vector512.Create(k[t + 6]));
            Round(b, c, d, ref e, f, g, h, ref a, w[t + 7] + Vector512.Create(k[t + 7]));
        }

        for (var t = 16; t < 64; t += 8)
        {
            Round(a, b, c, ref d, e, f, g, ref h, Expand(ref w, t) + Vector512.Create(k[t]));
            Round(h, a, b, ref c, d, e, f, ref g, Expand(ref w, t + 1) + Vector512.Create(k[t + 1]));
            Round(g, h, a, ref b, c, d, e, ref f, Expand(ref w, t + 2) + Vector512.Create(k[t + 2]));
            Round(f, g, h, ref a, b, c, d, ref e, Expand(ref w, t + 3) + Vector512.Create(k[t + 3]));
            Round(e, f, g, ref h, a, b, c, ref d, Expand(ref w, t + 4) + Vector512.Create(k[t + 4]));
            Round(d, e, f, ref g, h, a, b, ref c, Expand(ref w, t + 5) + Vector512.Create(k[t + 5]));
            Round(c, d, e, ref f, g, h, a, ref b, Expand(ref w, t + 6) + Vector512.Create(k[t + 6]));
            Round(b, c, d, ref e, f, g, h, ref a, Expand(ref w, t + 7) + Vector512.Create(k[t + 7]));
        }

        s.A += a;
        s.B += b;
        s.C += c;
        s.D += d;
        s.E += e;
        s.F += f;
        s.G += g;
        s.H += h;
    }
}
