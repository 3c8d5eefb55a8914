namespace Cairn.IO;

/// <summary>Random hex strings for names that must not collide: a repository's id, staging and overlay directories.</summary>
public static class RandomName
{
    /// <summary>
    /// <paramref name="digits"/> (at most 32) lowercase hex digits from the system's secure random source.
    /// </summary>
    /// <remarks>
    /// Taken from <see cref="Guid.NewGuid"/>, which reads the kernel's random source directly, rather than from
    /// <c>RandomNumberGenerator</c>, which on Linux is OpenSSL: a mount or restore would otherwise load and initialise
    /// libcrypto (~12 ms from a cold page cache) for a name. A version 4 GUID has 122 random bits; its 6 fixed bits
    /// fall on the 13th digit and in the 17th.
    /// </remarks>
    public static string Hex(int digits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(digits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digits, 32);
        return Guid.NewGuid().ToString("N")[..digits];
    }
}
