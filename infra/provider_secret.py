"""`scripts/provider-secret -c env=prod switchboard/openai [--file F]`: write a provider key to its
Secrets Manager secret in every gateway region of an environment.

The key is read from a file, from stdin when piped, or typed without echo: never from the command
line (shell history, `ps`). The secret holds `{"api_key": "..."}` (what `api_key_secret` reads);
it is created where missing and updated where present. Nothing prints the key.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from infra.config import EnvironmentConfig, load_environment

ROOT = Path(__file__).resolve().parents[1]


def read_key(path: str | None, stdin_is_tty: bool) -> str:
    if path:
        key = Path(path).read_text(encoding="utf-8")
    elif not stdin_is_tty:
        key = sys.stdin.read()
    else:
        key = getpass.getpass("provider key (not echoed): ")
    key = key.strip()
    if not key or "\n" in key:
        raise SystemExit("provider-secret: expected one key on one line")
    return key


def write_everywhere(env: EnvironmentConfig, name: str, key: str, client_for: object) -> list[str]:
    """Create or update `name` in every gateway region; returns one line per region."""
    lines = []
    value = json.dumps({"api_key": key})
    for region in env.regions:
        client = client_for(region)  # type: ignore[operator]
        try:
            client.put_secret_value(SecretId=name, SecretString=value)
            lines.append(f"{region}: updated {name}")
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=value, Description="Switchboard provider key")
            lines.append(f"{region}: created {name}")
    return lines


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - needs an AWS account
    parser = argparse.ArgumentParser(prog="scripts/provider-secret", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], help="env=<name> (as for cdk)")
    parser.add_argument("name", help="the secret name (as in deploy/gateway.toml and provider_secrets)")
    parser.add_argument("--file", help="read the key from this file (default: stdin, or typed)")
    args = parser.parse_args(argv)
    context = dict(item.split("=", 1) for item in args.context)
    cdk_context = json.loads((ROOT / "cdk.json").read_text())["context"]
    env = load_environment(cdk_context, context.get("env", cdk_context.get("env", "dev")))
    if args.name not in env.provider_secrets:
        print(f"warning: {args.name} is not in environments.{env.name}.provider_secrets (no read access)")
    key = read_key(args.file, sys.stdin.isatty())
    import boto3
    from botocore.exceptions import NoCredentialsError

    try:
        for line in write_everywhere(
            env, args.name, key, lambda r: boto3.client("secretsmanager", region_name=r)
        ):
            print(line)
    except NoCredentialsError:
        print("no AWS credentials: set AWS_PROFILE (or run `aws sso login` / `aws configure`) and retry")
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
