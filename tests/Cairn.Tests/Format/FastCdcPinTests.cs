using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Cairn.Chunking;
using Cairn.Tests.Support;

namespace Cairn.Tests.Format;

/// <summary>
/// The chunker is part of the repository format: the same bytes must be cut at the same places by every Cairn that
/// writes a repository, or dedup silently stops working. These pins break on any change to the gear table, the
/// masks, the normalization or the two-bytes-per-step loop.
/// </summary>
public sealed class FastCdcPinTests
{
    private const int InputLength = 4 << 20;

    private static readonly byte[] s_input = XorShift.Bytes(InputLength, seed: 1);

    [Fact]
    public void The_gear_table_and_masks_are_pinned()
    {
        var chunker = new FastCdc(ChunkerParameters.Default);

        Assert.Equal("9780b6fb09b67728b57ab04e180df9f1984823788f9b656aa7e6caf60e98be5c", Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(FastCdc.Gear))));
        Assert.Equal(0xA4A4_A4A4_A4A4_0000UL, chunker.MaskSmall); // 18 bits before the average size
        Assert.Equal(0x9224_4892_2448_0000UL, chunker.MaskLarge); // 14 bits after it
    }

    [Fact]
    public void The_cut_points_of_4_MiB_of_xorshift_data_are_pinned()
    {
        var cuts = Cuts(new FastCdc(ChunkerParameters.Default), s_input);

        Assert.Equal(62, cuts.Count);
        Assert.Equal([76707L, 149425, 225463, 302468, 377135, 412012], cuts.Take(6));
        Assert.Equal("24bdace5be199380effe33ab3b8dbf6ecbefb0fc3f2a2aa15b2fa5ad3af8b3db", HashOf(cuts));
    }

    [Fact]
    public void The_cut_points_with_small_parameters_are_pinned()
    {
        var cuts = Cuts(new FastCdc(new ChunkerParameters(256, 1024, 4096)), s_input.AsSpan(0, 1 << 20));

        Assert.Equal(986, cuts.Count);
        Assert.Equal([759L, 1825, 2907, 3679, 4944, 5306], cuts.Take(6));
        Assert.Equal("bd43f6815c0b99e433fc38e167ef624804fb7e755ac7ff495f555fa6f12942d5", HashOf(cuts));
    }

    [Fact]
    public void Zeros_are_cut_at_the_maximum_size()
    {
        var cuts = Cuts(new FastCdc(ChunkerParameters.Default), new byte[1 << 20]);

        Assert.Equal(new long[] { 256 << 10, 512 << 10, 768 << 10, 1 << 20 }, cuts);
    }

    [Fact]
    public void Every_chunk_respects_the_bounds_and_only_the_last_may_be_short()
    {
        var p = ChunkerParameters.Default;
        var cuts = Cuts(new FastCdc(p), s_input);

        var lengths = cuts.Zip(cuts.Prepend(0), (end, start) => end - start).ToList();
        Assert.All(lengths.SkipLast(1), length => Assert.InRange(length, p.MinSize + 1, p.MaxSize));
        Assert.Equal(InputLength, cuts[^1]);
    }

    [Fact]
    public void Streaming_in_pieces_finds_the_same_cut_points_as_one_buffer()
    {
        var chunker = new FastCdc(ChunkerParameters.Default);
        var random = new Random(7);
        var streamed = new List<long>();
        long consumed = 0;
        var available = 0;
        while (consumed < InputLength)
        {
            // Data arrives in pieces of random size; the chunker sees only what has arrived past the last cut.
            available = (int)Math.Min(InputLength - consumed, available + random.Next(1, 100_000));
            var isFinal = consumed + available == InputLength;
            var cut = chunker.NextCut(s_input.AsSpan((int)consumed, available), isFinal);
            if (cut > 0)
            {
                consumed += cut;
                available -= cut;
                streamed.Add(consumed);
            }
        }

        Assert.Equal(Cuts(chunker, s_input), streamed);
    }

    /// <summary>The end offset of every chunk.</summary>
    private static List<long> Cuts(FastCdc chunker, ReadOnlySpan<byte> data)
    {
        var cuts = new List<long>();
        var position = 0;
        while (position < data.Length)
        {
            position += chunker.NextCut(data[position..], isFinal: true);
            cuts.Add(position);
        }

        return cuts;
    }

    /// <summary>SHA-256 of the cut offsets, each as 8 bytes little-endian.</summary>
    private static string HashOf(List<long> cuts)
    {
        var bytes = new byte[cuts.Count * 8];
        for (var i = 0; i < cuts.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), cuts[i]);
        }

        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }
}
