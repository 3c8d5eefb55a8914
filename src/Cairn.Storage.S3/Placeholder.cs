namespace Cairn.Storage.S3; internal static class Placeholder { }
