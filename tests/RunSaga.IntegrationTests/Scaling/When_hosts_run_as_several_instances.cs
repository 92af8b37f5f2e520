using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Scaling;

/// <summary>
/// Two Orchestrators and two Consumers on one broker and database, as a deployment with replicas runs them: run requests
/// go to either Orchestrator's API while the sagas run in whichever instance RabbitMQ gives the message to, scrapers
/// publish as usual, and one Consumers instance is SIGKILLed mid-way. Every run completes with every item once, and both
/// APIs answer the same about every run.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_hosts_run_as_several_instances(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int Runs = 8;

    [Fact]
    public async Task Should_complete_every_run_whichever_instance_answers_or_works()
    {
        var mark = Stack.Logs.Mark();
        await Stack.Scale(2, 2);
        try
        {
            var source = NewSource("scaled");
            var runs = new List<ScrapeRun>();
            for (var i = 0; i < Runs; i++)
            {
                // Alternating between the two APIs; each answers 201 once the saga (in either instance) has recorded the run.
                using var api = Stack.Api("operator", orchestrator: i % 2);
                using var response = await api.PostAsJsonAsync("runs", new { source, processType = "sync" });
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                var runId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
                runs.Add(new ScrapeRun(source, "sync", runId));
            }

            // The scrapers publish; half-way, one Consumers instance dies and a new one takes its place.
            var batches = runs.ToDictionary(r => r.RunId, r => Items.Numbered(120, $"r{runs.IndexOf(r)}").InBatches(20, $"{r.RunId:N}-"));
            foreach (var run in runs.Take(Runs / 2))
            {
                await Publisher.Publish([run.Started(), .. batches[run.RunId].Select(run.Scraped), run.Completed(batches[run.RunId])]);
            }

            await Stack.RestartConsumersInstance(0);
            foreach (var run in runs.Skip(Runs / 2))
            {
                await Publisher.Publish([run.Started(), .. batches[run.RunId].Select(run.Scraped), run.Completed(batches[run.RunId])]);
            }

            foreach (var run in runs)
            {
                var row = await ExpectCompleted(run.RunId);
                Assert.Equal((120, 0), (row.Inserted, row.Updated));
            }

            var projects = await Db.Projects(source);
            Assert.Equal(Runs * 120, projects.Count);
            Assert.Equal(Runs * 120, (await Db.Lineage(source)).Count);

            // Both APIs give the same answer about every run.
            using var first = Stack.Api("reader", orchestrator: 0);
            using var second = Stack.Api("reader", orchestrator: 1);
            foreach (var run in runs)
            {
                var (a, b) = (await first.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}"), await second.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}"));
                Assert.Equal("Completed", a.GetProperty("status").GetString());
                Assert.Equal(a.GetProperty("status").GetString(), b.GetProperty("status").GetString());
            }

            // The sagas ran in both Orchestrators, and at least one run's request was answered by the other one.
            var recordedBy = runs.ToDictionary(r => r.RunId, r => Stack.Logs.Since(mark, int.MaxValue)
                .Where(l => l.Contains($"run={r.RunId}", StringComparison.Ordinal) && l.Contains("Run requested by", StringComparison.Ordinal))
                .Select(l => l.StartsWith("[orchestrator.2]", StringComparison.Ordinal) ? 1 : 0)
                .Distinct().ToList());
            Assert.All(recordedBy, r => Assert.Single(r.Value));
            Assert.Contains(recordedBy.Values, v => v[0] == 0);
            Assert.Contains(recordedBy.Values, v => v[0] == 1);
        }
        finally
        {
            await Stack.Scale(1, 1);
        }
    }
}
