using Cairn.IO;

namespace Cairn.Tests.IO;

public sealed class RandomNameTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(32)]
    [InlineData(64)]
    public void Gives_that_many_lowercase_hex_digits(int digits)
    {
        var name = RandomName.Hex(digits);

        Assert.Equal(digits, name.Length);
        Assert.All(name, c => Assert.True(char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c), $"'{c}' in {name}"));
    }

    [Fact]
    public void Names_do_not_repeat()
    {
        var names = Enumerable.Range(0, 10_000).Select(_ => RandomName.Hex(12)).ToHashSet();

        Assert.Equal(10_000, names.Count);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65)]
    public void Negative_or_over_64_digits_are_refused(int digits)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RandomName.Hex(digits));
    }
}
