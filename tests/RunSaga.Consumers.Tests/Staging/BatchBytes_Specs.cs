using System.Text;
using System.Text.Json;
using RunSaga.Consumers.Staging;

namespace RunSaga.Consumers.Tests.Staging;

/// <summary>
/// Reading a batch from its bytes as received, as the staging endpoint does: where its <c>items</c> are in the message
/// (matched as System.Text.Json matches MassTransit's fields), and the item rules applied in the one pass.
/// </summary>
public sealed class When_a_batch_is_read_from_its_bytes
{
    [Theory]
    [InlineData("""{"message":{"runId":"x","items":[{"key":"a"}]}}""", true, ItemsKind.Array, """[{"key":"a"}]""")]
    [InlineData("""{"MESSAGE":{"Items":[{"key":"a"}]}}""", true, ItemsKind.Array, """[{"key":"a"}]""")]
    [InlineData("""{"message":{"items":[1],"items":[{"key":"last"}]}}""", true, ItemsKind.Array, """[{"key":"last"}]""")]
    [InlineData("""{"message":{"items":[1]},"message":{"items":[2]}}""", true, ItemsKind.Array, "[2]")]
    [InlineData("""{"message":{"\u0069tems":[3]}}""", true, ItemsKind.Array, "[3]")]
    [InlineData("""{"message":{"items":null}}""", true, ItemsKind.Null, "")]
    [InlineData("""{"message":{"batchId":"b1"}}""", true, ItemsKind.Absent, "")]
    [InlineData("""{"message":{"items":5}}""", true, ItemsKind.Other, "")]
    [InlineData("""{"message":"not an object","items":[1]}""", true, ItemsKind.Absent, "")]
    [InlineData("""{"runId":"x","items":[{"key":"a"}], /* a comment */ }""", false, ItemsKind.Array, """[{"key":"a"}]""")]
    [InlineData("""{"message":{"items":[9]},"items":[1]}""", false, ItemsKind.Array, "[1]")]
    public void Should_find_the_items_where_MassTransit_reads_them(string body, bool envelope, ItemsKind kind, string items)
    {
        var found = BatchItems.Locate(Encoding.UTF8.GetBytes(body), envelope);

        Assert.Equal(kind, found.Kind);
        Assert.Equal(items, Encoding.UTF8.GetString(found.Json.Span));
    }

    [Fact]
    public void Should_pass_over_a_property_name_that_is_not_UTF8()
    {
        byte[] body = [.. "{\""u8.ToArray(), 0xFF, 0xFE, .. "abcdefgh\":1,\"message\":{\"items\":[7]}}"u8.ToArray()];

        Assert.Equal("[7]", Encoding.UTF8.GetString(BatchItems.Locate(body, envelope: true).Json.Span));
    }

    [Fact]
    public void Should_refuse_a_body_that_is_not_json()
    {
        Assert.ThrowsAny<JsonException>(() => BatchItems.Locate("""{"message":{"items":[{"key":"""u8.ToArray(), envelope: true));
    }

    [Fact]
    public void Should_read_fields_in_any_case_and_with_escaped_names_and_keep_the_last_of_a_repeated_field()
    {
        var batch = BatchValidation.Validate("""
            [
              {"\u006bey":"escaped-name","title":"t"},
              {"Key":"upper","TITLE":"first","title":"last"},
              {"\u212Aey":"kelvin-sign"},
              /* a comment between items */
              {"key":"with-data","data":{"b":1,"a":2},"data":{"kept":true}},
            ]
            """u8.ToArray());

        Assert.Empty(batch.Rejections);
        Assert.Equal(["escaped-name", "kelvin-sign", "upper", "with-data"], batch.Items.Select(i => i.Key));
        Assert.Equal("last", batch.Items.Single(i => i.Key == "upper").Title);
        Assert.Equal("""{"kept":true}""", Encoding.UTF8.GetString(batch.Items.Single(i => i.Key == "with-data").Data!.Value.Span));
        Assert.Equal(4, batch.ItemCount);
    }

    [Fact]
    public void Should_keep_the_reasons_of_data_that_is_not_an_object_even_when_it_is_not_UTF8()
    {
        byte[] items = [.. """[{"key":"s","data":" """u8.ToArray(), 0xFF, .. "\"},{\"key\":\"o\",\"data\":{\"x\":\""u8.ToArray(), 0xFF, .. "\"}}]"u8.ToArray()];

        var batch = BatchValidation.Validate(items);

        Assert.Equal([("s", BatchValidation.DataNotObject), ("o", BatchValidation.InvalidUtf8)], batch.Rejections.Select(r => (r.Key, r.Reason)));
    }

    [Fact]
    public void Should_reject_data_nested_past_the_limit_alone_but_refuse_items_past_the_message_depth()
    {
        static string Nested(int depth) => string.Concat(Enumerable.Repeat("[", depth)) + new string(']', depth);

        var deep = BatchValidation.Validate(Encoding.UTF8.GetBytes($$$"""[{"key":"deep","data":{"d":{{{Nested(150)}}}}},{"key":"ok"}]"""), depth: 1);
        Assert.Equal([("deep", BatchValidation.DataTooDeep)], deep.Rejections.Select(r => (r.Key, r.Reason)));
        Assert.Equal(["ok"], deep.Items.Select(i => i.Key));

        Assert.ThrowsAny<JsonException>(() => BatchValidation.Validate(Encoding.UTF8.GetBytes($$$"""[{"key":"too-deep","data":{"d":{{{Nested(300)}}}}}]"""), depth: 1));
    }
}
