using System.Text;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>
/// Citations stay exact (issue #11): every passage the scenario suite's questions get back is the file's text at the
/// passage's offsets, character for character, so a citation can quote the file from them. Real files, real pipeline
/// (extraction, chunking, MiniLM, SQLite), both the default and a small chunking strategy.
/// </summary>
public sealed class CitationExactnessTests(ChunkIndexFixture fixture) : IClassFixture<ChunkIndexFixture>
{
    private static readonly string[] Files =
    [
        "HR/contoso-401k.txt", "HR/contoso-benefits.txt", "HR/contoso-medical_leave.txt", "travel/flight_itinerary.txt",
        "travel/flight_itinerary_multicity.txt", "travel/airbnb_bills.csv", "travel/train_ids.csv", "faq/fta-contoso-faq.txt", "finance/fta-portfolio.csv",
    ];

    // The retrieval prompts of scenarios 10 and 11 (shared/scenarios/README.md), as users and the model phrase them.
    private static readonly string[] Questions =
    [
        "Can you list some company benefits? Can you provide a summary for requesting medical leave?",
        "Can you provide me a complete list of company benefits benefits?",
        "What is the 401k matching percentage?",
        "401k matching percentage",
        "Give me a day-by-day itinerary for my travel dates",
        "Will be 4 friends staying at this Airbnb in Berlin. What's my share of costs+my flight?",
        "airbnb lodging cost flights cost",
        "When is the shop open on Sunday?",
    ];

    [Theory]
    [InlineData(800, 400)]
    [InlineData(100, 50)]
    public async Task Citations_EveryScenarioAnswer_IsTheFileTextAtItsOffsets(int size, int overlap)
    {
        var store = "vs_" + Guid.NewGuid().ToString("N");
        var texts = new Dictionary<string, string>();
        foreach (var path in Files)
        {
            var name = Path.GetFileName(path);
            var bytes = SharedData.Read(path);
            var result = await fixture.IngestAsync(store, "file-" + name, name, bytes, new StaticChunkingStrategy(size, overlap));
            Assert.True(result.Succeeded, result.Error?.Message);
            texts["file-" + name] = new UTF8Encoding(false).GetString(bytes).TrimStart('\uFEFF');
        }
        var checkedResults = 0;
        foreach (var mode in (FileSearchMode[])[FileSearchMode.Hybrid, FileSearchMode.KeywordOnly, FileSearchMode.VectorOnly])
        {
            foreach (var question in Questions)
            {
                var results = await fixture.Search.SearchAsync(new FileSearchQuery("proj_test", [store], [question], 50, Mode: mode), CancellationToken.None);
                Assert.NotEmpty(results);
                foreach (var r in results)
                {
                    var file = texts[r.FileId];
                    Assert.InRange(r.StartChar, 0, r.EndChar);
                    Assert.InRange(r.EndChar, r.StartChar, file.Length);
                    Assert.Equal(file[r.StartChar..r.EndChar], r.Text);
                    checkedResults++;
                }
            }
        }
        Assert.True(checkedResults > 100, $"only {checkedResults} results checked");
    }
}
