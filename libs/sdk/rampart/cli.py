"""The `rampart` command line."""

from __future__ import annotations

import asyncio
import json

import typer

from rampart_contracts.errors import RampartError
from rampart_contracts.settings import DEFAULT_DATABASE_URL

app = typer.Typer(help="Rampart: self-hosted data observability.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="api-keys")


@keys_app.command("create")
def create_key(
    org: str = typer.Option("default", help="Organization id (created if missing)"),
    name: str = typer.Option("bootstrap", help="Key label"),
    scope: str = typer.Option("admin", help="read-only, read-write or admin"),
    tier: str = typer.Option("enterprise", help="free_trial, starter, growth, professional, "
                                                "enterprise (sets the organization's tier)"),
    rate_limit_per_min: int = typer.Option(None, help="Override the tier's per-minute limit"),
    burst: int = typer.Option(None, help="Override the tier's per-second burst"),
    test_key: bool = typer.Option(False, "--test", help="Issue an aa_test_ key"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
    database_url: str = typer.Option(DEFAULT_DATABASE_URL, envvar="RAMPART_DATABASE_URL"),
    secret_key: str = typer.Option(..., envvar="RAMPART_SECRET_KEY", show_default=False),
) -> None:
    """Create an API key directly in the database (bootstrap; no running gateway needed).

    Exit codes: 0 created, 2 invalid input, 1 any other failure.
    """
    from .admin import bootstrap_key

    try:
        created = asyncio.run(bootstrap_key(
            database_url=database_url, secret_key=secret_key, org=org, name=name, scope=scope,
            tier=tier, rate_limit_per_min=rate_limit_per_min, burst=burst,
            environment="test" if test_key else "live",
        ))
    except RampartError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2 if exc.http_status < 500 else 1) from None
    if as_json:
        typer.echo(json.dumps(created))
        return
    typer.echo(f"Created {created['scope']} key '{created['name']}' for {created['org_id']}:")
    typer.echo(created["key"])
    typer.echo("It is shown once; store it now.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
