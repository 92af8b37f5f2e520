using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// A small shop served on 127.0.0.1 for real crawlers: listing pages with pagination (<c>/</c>, <c>/list/2.html</c>, …,
/// <see cref="PerPage"/> products each, a <c>a.next</c> link), one detail page per product (<c>/products/&lt;sku&gt;.html</c>
/// with its title, price and description), and a few links to pages that do not exist (404). A scenario edits, removes
/// and adds products between crawls; the pages follow at once.
/// </summary>
public sealed class LocalSite : IAsyncDisposable
{
    public const int PerPage = 10;

    private readonly HttpListener listener = new();
    private readonly ConcurrentDictionary<string, Product> products = new();
    private readonly Task serving;
    private int requests;
    private int productPages;
    private int holdAfter = int.MaxValue;
    private int held;
    private readonly TaskCompletionSource gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LocalSite(int productCount, int brokenLinks = 3)
    {
        for (var i = 1; i <= productCount; i++)
        {
            var product = Product.Numbered(i);
            products[product.Sku] = product;
        }

        BrokenLinks = brokenLinks;
        Port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Start();
        serving = Task.Run(Serve);
    }

    public int Port { get; }

    public string StartUrl => $"http://127.0.0.1:{Port}/";

    public int BrokenLinks { get; }

    /// <summary>How many requests the site has answered (every status).</summary>
    public int Requests => Volatile.Read(ref requests);

    public IReadOnlyCollection<Product> Products => [.. products.Values.OrderBy(p => p.Sku, StringComparer.Ordinal)];

    /// <summary>From the <paramref name="count"/>-th product page on, product pages wait until <see cref="Release"/>.</summary>
    public void HoldProductPagesAfter(int count) => Volatile.Write(ref holdAfter, count);

    /// <summary>How many product requests wait at the hold right now.</summary>
    public int Held => Volatile.Read(ref held);

    public void Release() => gate.TrySetResult();

    public void Edit(string sku, Func<Product, Product> change) => products[sku] = change(products[sku]);

    public void Remove(string sku) => Assert.True(products.TryRemove(sku, out _), $"no product {sku} to remove");

    public void Add(Product product) => Assert.True(products.TryAdd(product.Sku, product), $"product {product.Sku} exists already");

    public async ValueTask DisposeAsync()
    {
        Release();
        listener.Stop();
        listener.Close();
        try
        {
            await serving;
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
        {
        }
    }

    private async Task Serve()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            // Each request on its own task, so that a held page does not hold the others.
            _ = Task.Run(() => Respond(context));
        }
    }

    private async Task Respond(HttpListenerContext context)
    {
        Interlocked.Increment(ref requests);
        var path = context.Request.Url?.AbsolutePath ?? "/";
        if (path.StartsWith("/products/", StringComparison.Ordinal) && Interlocked.Increment(ref productPages) > Volatile.Read(ref holdAfter))
        {
            Interlocked.Increment(ref held);
            await gate.Task;
            Interlocked.Decrement(ref held);
        }

        var (status, html) = Page(path);
        var body = Encoding.UTF8.GetBytes(html);
        try
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    private (int Status, string Html) Page(string path)
    {
        var listing = ListingNumber(path);
        if (listing is { } number)
        {
            var all = Products.ToList();
            var pages = Math.Max(1, (all.Count + PerPage - 1) / PerPage);
            if (number > pages)
            {
                return NotFound(path);
            }

            var links = new StringBuilder();
            foreach (var product in all.Skip((number - 1) * PerPage).Take(PerPage))
            {
                links.Append($"""<li><a class="product" href="/products/{product.Sku}.html">{WebUtility.HtmlEncode(product.Title)}</a></li>""");
            }

            // The first listing also links to pages that are gone: a crawler must survive them.
            if (number == 1)
            {
                for (var i = 1; i <= BrokenLinks; i++)
                {
                    links.Append($"""<li><a class="product" href="/products/gone-{i}.html">Gone {i}</a></li>""");
                }
            }

            var next = number < pages ? $"""<a class="next" href="/list/{number + 1}.html">next</a>""" : string.Empty;
            return (200, $"<!doctype html><html><head><title>Shop, page {number}</title></head><body><ul>{links}</ul>{next}</body></html>");
        }

        if (path.StartsWith("/products/", StringComparison.Ordinal) && path.EndsWith(".html", StringComparison.Ordinal))
        {
            var sku = path["/products/".Length..^".html".Length];
            if (products.TryGetValue(sku, out var product))
            {
                return (200, $"""
                    <!doctype html><html><head><title>{WebUtility.HtmlEncode(product.Title)}</title></head><body>
                    <h1 class="title">{WebUtility.HtmlEncode(product.Title)}</h1>
                    <span class="price" data-sku="{product.Sku}">{product.Price.ToString(System.Globalization.CultureInfo.InvariantCulture)}</span>
                    <p class="description">{WebUtility.HtmlEncode(product.Description)}</p>
                    </body></html>
                    """);
            }
        }

        return NotFound(path);
    }

    private static int? ListingNumber(string path)
    {
        if (path is "/" or "/index.html")
        {
            return 1;
        }

        if (path.StartsWith("/list/", StringComparison.Ordinal) && path.EndsWith(".html", StringComparison.Ordinal)
            && int.TryParse(path["/list/".Length..^".html".Length], out var number) && number >= 1)
        {
            return number;
        }

        return null;
    }

    private static (int, string) NotFound(string path) =>
        (404, $"<!doctype html><html><body><h1>Not found</h1><p>{WebUtility.HtmlEncode(path)}</p></body></html>");

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

/// <summary>One product of <see cref="LocalSite"/>: what its detail page shows.</summary>
public sealed record Product(string Sku, string Title, decimal Price, string Description)
{
    public static Product Numbered(int i) =>
        new($"sku-{i:D4}", $"Product {i}", 10m + i % 50 + (i % 4) * 0.25m, $"Product number {i}, in stock.");

    /// <summary>The URL its page has on <paramref name="site"/>.</summary>
    public string Url(LocalSite site) => $"http://127.0.0.1:{site.Port}/products/{Sku}.html";
}
