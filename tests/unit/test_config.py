from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, load_config, parse_config, parse_target
from switchboard.providers import registered_types

TYPES = registered_types()


def doc(**over):
    base = {
        "gateway": {"region": "local"},
        "providers": {
            "openai": {
                "type": "openai",
                "base_url": "https://api.openai.com/v1",
                "api_key_env": "OPENAI_API_KEY",
            }
        },
        "models": {"gpt-4o-mini": {"targets": ["openai/gpt-4o-mini"], "timeout_ms": 30000}},
    }
    base.update(over)
    return base


def test_issue_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text(
        """
[gateway]
region = "local"

[providers.openai]
type = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"

[providers.backup]
type = "openai"
base_url = "https://backup.example/v1/"
api_key_env = "BACKUP_KEY"

[models."gpt-4o-mini"]
targets = ["openai/gpt-4o-mini", "backup/gpt-4o-mini"]
timeout_ms = 30000
"""
    )
    config = load_config(path, env={})
    model = config.models["gpt-4o-mini"]
    assert [t.id for t in model.targets] == ["openai/gpt-4o-mini", "backup/gpt-4o-mini"]
    assert model.timeout_ms == 30000
    assert config.providers["backup"].base_url == "https://backup.example/v1"
    assert config.gateway.region == "local"


def test_region_defaults_to_aws_region() -> None:
    raw = doc(gateway={})
    assert parse_config(raw, env={"AWS_REGION": "eu-west-1"}).gateway.region == "eu-west-1"
    assert parse_config(raw, env={}).gateway.region == "local"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (doc(gatway={}), "(top level).gatway: unknown key"),
        (doc(gateway={"regoin": "x"}), "gateway.regoin: unknown key"),
        (doc(gateway={"max_body_bytes": "big"}), "gateway.max_body_bytes: expected an integer, got str"),
        (doc(routing={"retry_budget": True}), "routing.retry_budget: expected an integer, got a boolean"),
        (doc(routing={"retry_budget": -1}), "routing.retry_budget: must not be negative"),
        (
            doc(providers={"openai": {"type": "nope", "base_url": "https://x"}}),
            "providers.openai.type: unknown provider type 'nope'",
        ),
        (doc(providers={"openai": {"base_url": "https://x"}}), "providers.openai.type: required"),
        (doc(providers={"openai": {"type": "openai"}}), "providers.openai.base_url: required"),
        (
            doc(providers={"openai": {"type": "openai", "base_url": "https://x/v1?key=1"}}),
            "must not contain a query",
        ),
        (
            doc(providers={"openai": {"type": "openai", "base_url": "https://x", "api_key": "sk-1"}}),
            "providers.openai.api_key: secrets never go in the file",
        ),
        (
            doc(providers={"openai": {"type": "openai", "base_url": "https://x", "auth_header": "cookie"}}),
            "providers.openai.auth_header",
        ),
        (
            doc(
                providers={"openai": {"type": "openai", "base_url": "https://x", "headers": {"x-a": "b\nc"}}}
            ),
            "providers.openai.headers.x-a",
        ),
        (doc(models={}), "models: define at least one"),
        (doc(models={"m": {"targets": []}}), 'models."m".targets: required'),
        (doc(models={"m": {"targets": ["openai"]}}), "models.\"m\".targets[0]: 'openai' is not"),
        (
            doc(models={"m": {"targets": ["backup/x"]}}),
            "models.\"m\".targets[0]: provider 'backup' is not defined",
        ),
        (doc(models={"m": {"targets": ["openai/x"], "tragets": 1}}), 'models."m".tragets: unknown key'),
        (doc(models={"m": {"targets": [{"timeout_ms": 5}]}}), 'models."m".targets[0].target: required'),
        (doc(models={"m": {"targets": [3]}}), 'models."m".targets[0]: expected'),
    ],
)
def test_errors_name_the_key(raw, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    assert message in str(info.value)


def test_target_splits_at_first_slash() -> None:
    target = parse_target("together/meta-llama/Llama-3-70b")
    assert (target.provider, target.model) == ("together", "meta-llama/Llama-3-70b")


@pytest.mark.parametrize("spec", ["nope", "/model", "provider/", " p/m", "p/m\n"])
def test_bad_targets(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_target(spec)


def test_target_tables_and_azure_options() -> None:
    raw = doc(
        providers={
            "azure": {
                "type": "openai",
                "base_url": "https://my.openai.azure.com",
                "api_key_env": "AZURE_KEY",
                "auth_header": "api-key",
                "api_version": "2024-10-21",
                "azure_deployments": True,
                "headers": {"X-Team": "ml"},
                "timeout_ms": 9000,
            }
        },
        models={"m": {"targets": [{"target": "azure/gpt4o-deploy", "timeout_ms": 5000}]}},
    )
    config = parse_config(raw, env={})
    provider = config.providers["azure"]
    assert (
        provider.auth_header == "api-key"
        and provider.azure_deployments
        and provider.headers == (("x-team", "ml"),)
    )
    assert config.models["m"].targets[0].timeout_ms == 5000


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_demo_config_is_offline_and_adds_real_providers_by_env() -> None:
    from switchboard.demo import demo_config

    offline = demo_config(env={})
    assert set(offline.providers) == {"mock"}
    assert "mock-echo" in offline.models
    online = demo_config(env={"OPENAI_API_KEY": "sk-x", "GEMINI_API_KEY": "g"})
    assert {"mock", "openai", "gemini"} <= set(online.providers)
    assert "gpt-6-luna" in online.models


def test_bedrock_needs_a_region_not_a_base_url() -> None:
    with pytest.raises(ConfigError, match="region: required for bedrock"):
        parse_config(
            doc(providers={"br": {"type": "bedrock"}}, models={"m": {"targets": ["br/x"]}}),
            env={},
        )
    config = parse_config(
        doc(
            providers={"br": {"type": "bedrock", "region": "eu-west-1"}}, models={"m": {"targets": ["br/x"]}}
        ),
        env={},
    )
    assert config.providers["br"].region == "eu-west-1" and config.providers["br"].base_url == ""


def test_store_section() -> None:
    assert parse_config(doc(), env={}).store.backend == "sqlite"
    assert parse_config(doc(), env={}).store.path == ".switchboard/state.db"
    dynamo = parse_config(
        doc(store={"backend": "dynamodb", "table": "switchboard-prod", "region": "eu-west-1"}),
        env={},
    )
    assert (dynamo.store.table, dynamo.store.region) == ("switchboard-prod", "eu-west-1")
    from_env = parse_config(
        doc(store={"backend": "dynamodb"}),
        env={"SWITCHBOARD_TABLE": "t", "AWS_REGION": "us-east-2"},
    )
    assert (from_env.store.table, from_env.store.region) == ("t", "us-east-2")
    for bad, message in (
        ({"backend": "redis"}, "store.backend"),
        ({"backend": "dynamodb"}, "store.table"),
        ({"tabel": "x"}, "store.tabel: unknown key"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config(doc(store=bad), env={})


def _doc(**gateway: object) -> dict[str, object]:
    return {
        "gateway": gateway,
        "providers": {"m": {"type": "mock"}},
        "models": {"echo": {"targets": ["m/echo"]}},
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SWITCHBOARD_REGION_COUNT": "abc"},
            "$SWITCHBOARD_REGION_COUNT (gateway.regions): expected an integer >= 1, got 'abc'",
        ),
        (
            {"SWITCHBOARD_REGION_COUNT": "0"},
            "$SWITCHBOARD_REGION_COUNT (gateway.regions): expected an integer >= 1, got '0'",
        ),
        ({"SWITCHBOARD_AUTH": "off"}, "$SWITCHBOARD_AUTH: one of required, open (got 'off')"),
    ],
)
def test_environment_overrides_are_blamed_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_doc(), env=env)
    assert str(caught.value) == message


def test_configuration_hygiene() -> None:
    with pytest.raises(ConfigError, match=r"^gateway\.auth: one of required, open \(got 'off'\)$"):
        parse_config(_doc(auth="off"), env={})
    with pytest.raises(ConfigError, match=r"^gateway\.regions: must be at least 1$"):
        parse_config(_doc(regions=0), env={})
    assert parse_config(_doc(), env={"SWITCHBOARD_REGION_COUNT": "3"}).gateway.regions == 3
    with pytest.raises(ConfigError, match=r"did you mean 'providers'\?"):
        parse_config({**_doc(), "provider": {}}, env={})
    with pytest.raises(ConfigError, match=r"gateway\.regoin: unknown key \(did you mean 'region'\?"):
        parse_config(_doc(regoin="x"), env={})
    for name, value in [
        ("authorization", "Bearer sk-live-123"),
        ("x-extra", "sk-proj-123"),
        ("x-api-key", "k"),
    ]:
        doc = _doc()
        doc["providers"] = {
            "o": {"type": "openai", "base_url": "https://x.test/v1", "headers": {name: value}}
        }
        with pytest.raises(
            ConfigError, match=rf"providers\.o\.headers\.{name}: secrets never go in the file"
        ):
            parse_config(doc, env={})
