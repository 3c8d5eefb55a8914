using Cairn.Native.Linux;

namespace Cairn.IO;

/// <summary>Random hex strings for names that must not collide: a repository's id, staging and overlay directories.</summary>
public static class RandomName
{
    /// <summary><paramref name="digits"/> (at most 64) lowercase hex digits from the kernel's random source.</summary>
    /// <remarks>
    /// From getrandom(2) rather than <c>RandomNumberGenerator</c>, which on Linux is OpenSSL: a mount or restore would
    /// otherwise load and initialise libcrypto (~12 ms from a cold page cache) for a name.
    /// </remarks>
    public static string Hex(int digits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(digits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digits, 64);
        Span<byte> bytes = stackalloc byte[(digits + 1) / 2];
        LinuxProcess.GetRandomBytes(bytes);
        return Convert.ToHexStringLower(bytes)[..digits];
    }
}
