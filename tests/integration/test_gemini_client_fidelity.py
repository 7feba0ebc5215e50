"""The Gemini client's rows of the fidelity matrices (test_client_fidelity.py has the OpenAI and
Anthropic clients'): the google-genai SDK through a real `switchboard serve` to every target kind.
Structured output (`response_schema` from a pydantic model) reaches each upstream in its native
form and the SDK's `.parsed` accepts the answer; the SDK's final usage equals the fake upstream's
counts, JSON and streamed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai
from google.genai import types
from test_client_fidelity import MODELS, TARGETS, Weather, native_form, upstream_counts

from served import ANSWER, FakeProviders, Served, provider_config, serve

pytestmark = pytest.mark.loopback


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviders]:
    with FakeProviders() as providers:
        yield providers


@pytest.fixture(scope="module")
def gateway(fake: FakeProviders, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("gemini-fidelity"), provider_config(fake.root), MODELS) as served:
        yield served


@pytest.fixture
def google(gateway: Served) -> Iterator[genai.Client]:
    with genai.Client(api_key=gateway.key, http_options=types.HttpOptions(base_url=gateway.base)) as client:
        yield client


@pytest.mark.parametrize("model", ["openai-chat", *TARGETS])
def test_generate_content_parsed(google: genai.Client, fake: FakeProviders, model: str) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Weather)
    response = google.models.generate_content(model=model, contents="weather?", config=config)
    assert response.parsed == Weather(**ANSWER)
    body = fake.last().body
    if model == "gemini":  # passed through as sent
        config_sent = body["generationConfig"]
        assert config_sent["responseMimeType"] == "application/json"
        schema = config_sent.get("responseJsonSchema") or config_sent["responseSchema"]
        assert set(schema["properties"]) == {"city", "temp"}
    else:
        assert native_form(model, body)["properties"].keys() == {"city", "temp"}


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["openai-chat", "anthropic", "bedrock"])
def test_gemini_usage_equals_the_upstreams(google: genai.Client, model: str, streamed: bool) -> None:
    fresh, read, write, out = upstream_counts(model)
    client = google
    if streamed:
        usage = list(client.models.generate_content_stream(model=model, contents="hi"))[-1].usage_metadata
    else:
        usage = client.models.generate_content(model=model, contents="hi").usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (fresh + read + write, out)
    assert (usage.cached_content_token_count or 0) == read
