namespace Cairn.Native; internal static class Placeholder { }
