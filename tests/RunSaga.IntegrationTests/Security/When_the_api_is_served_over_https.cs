using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Security;

/// <summary>
/// docs/operations.md, "TLS": the Orchestrator serves its API over HTTPS with a certificate from configuration
/// (Kestrel__Certificates__Default__Path/Password). A second Orchestrator of the stack (instances compete on the same
/// queues by design) is started on HTTPS with a certificate generated here; the client trusts exactly that certificate.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_api_is_served_over_https(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_answer_over_tls_with_the_configured_certificate_and_not_in_plain_http()
    {
        var directory = Directory.CreateTempSubdirectory("runsaga-it-tls-");
        try
        {
            using var certificate = SelfSigned();
            var password = Guid.NewGuid().ToString("N");
            var pfx = Path.Combine(directory.FullName, "api.pfx");
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, password));

            var port = FreePort();
            var info = new ProcessStartInfo(RepositoryLayout.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(Stack.OrchestratorAssembly);
            info.ArgumentList.Add("--urls");
            info.ArgumentList.Add($"https://127.0.0.1:{port}");
            foreach (var (name, value) in Stack.OrchestratorEnvironment)
            {
                info.Environment[name] = value;
            }

            info.Environment["Kestrel__Certificates__Default__Path"] = pfx;
            info.Environment["Kestrel__Certificates__Default__Password"] = password;
            using var process = Process.Start(info)!;
            var log = new System.Text.StringBuilder();
            process.OutputDataReceived += (_, e) => log.AppendLine(e.Data);
            process.ErrorDataReceived += (_, e) => log.AppendLine(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                X509Certificate2? presented = null;
                using var handler = new HttpClientHandler
                {
                    // Trust exactly the generated certificate, and keep what the server presented.
                    ServerCertificateCustomValidationCallback = (_, server, _, _) =>
                    {
                        presented = server is null ? null : new X509Certificate2(server);
                        return server is not null && server.Thumbprint == certificate.Thumbprint;
                    },
                };
                using var https = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
                https.DefaultRequestHeaders.Add("X-Api-Key", Stack.ApiKeys["reader"]);

                HttpResponseMessage? answer = null;
                await Eventually(async () =>
                {
                    Assert.False(process.HasExited, $"the HTTPS Orchestrator exited: {log}");
                    try
                    {
                        answer = await https.GetAsync("runs?limit=1");
                        return answer.StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                }, $"GET /runs over HTTPS on port {port}", TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500));
                answer!.Dispose();
                Assert.Equal(certificate.Thumbprint, presented?.Thumbprint);

                // The key is still required over TLS, and plain HTTP is not served on the port.
                using (var anonymous = new HttpRequestMessage(HttpMethod.Get, "runs?limit=1"))
                {
                    anonymous.Headers.Add("X-Api-Key", "not-a-key-of-this-api");
                    using var refused = await https.SendAsync(anonymous);
                    Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
                }

                using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync($"http://127.0.0.1:{port}/health/live"));
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                Output.WriteLine(log.ToString().Length > 4000 ? log.ToString()[^4000..] : log.ToString());
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=runsaga-it", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
