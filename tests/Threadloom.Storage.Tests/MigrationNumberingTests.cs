using System.Text.RegularExpressions;
using Threadloom.Testing;

namespace Threadloom.Storage.Tests;

/// <summary>
/// Migrations are applied in file-name order and recorded by name, so two files with one number (branches merged
/// side by side) would both apply in an order nobody chose. Each provider's numbers are unique and have no gaps.
/// </summary>
public sealed partial class MigrationNumberingTests
{
    [Theory]
    [InlineData("Threadloom.Storage.Sqlite")]
    [InlineData("Threadloom.Storage.Postgres")]
    public void MigrationNumbers_AreUnique_AndContiguousFromOne(string project)
    {
        var folder = Path.Combine(RepoPaths.Root, "src", project, "Migrations");
        var names = Directory.GetFiles(folder, "*.sql").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(names);

        var numbers = names.Select(n =>
        {
            var match = NumberedName().Match(n!);
            Assert.True(match.Success, $"{n} is not named NNNN_description.sql");
            return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }).ToList();

        Assert.Equal(Enumerable.Range(1, numbers.Count), numbers);
    }

    [GeneratedRegex(@"^(\d{4})_[a-z0-9_]+\.sql$")]
    private static partial Regex NumberedName();
}
