"""``adaswitch serve``: an OpenAI-compatible HTTP server (needs the ``server`` extra)."""

from __future__ import annotations

from typing import Any

import click

from adaswitch.cli.options import settings_from_options, solver_options

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="ADASWITCH_HOST",
              help="Address to listen on. Anything but loopback exposes the models to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, envvar="ADASWITCH_PORT")
@click.option("--api-key", envvar="ADASWITCH_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 requests.")
@click.option("--max-concurrency", type=click.IntRange(1, 1024), default=None, envvar="ADASWITCH_MAX_CONCURRENCY",
              help="Questions solved at once [default: 1 with an in-process model, else 8].")
@click.option("--max-queue", type=click.IntRange(0, 100_000), default=16, show_default=True, envvar="ADASWITCH_MAX_QUEUE",
              help="Requests that may wait for a worker; more are refused with 429.")
@click.option("--request-timeout", type=click.FloatRange(min=1), default=600.0, show_default=True,
              envvar="ADASWITCH_REQUEST_TIMEOUT", help="Seconds a request may wait and solve before a 504.")
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=4 * 1024 * 1024, show_default=True,
              envvar="ADASWITCH_MAX_BODY_BYTES", help="Larger request bodies are refused with 413.")
@click.option("--graceful-timeout", type=click.IntRange(min=0), default=30, show_default=True,
              envvar="ADASWITCH_GRACEFUL_TIMEOUT", help="On shutdown, seconds requests in flight may take to finish.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, envvar="ADASWITCH_LOG_LEVEL")
@solver_options
def serve(host: str, port: int, api_key: str | None, max_concurrency: int | None, max_queue: int,
          request_timeout: float, max_body_bytes: int, graceful_timeout: int, log_level: str, **options: Any) -> None:
    """Serve the collaboration as an OpenAI-compatible API (/v1/chat/completions, /v1/models, /health).

    The requested model name picks the mode: adaswitch[@THRESHOLD], adaswitch-self-reflection[@THRESHOLD],
    adaswitch-random[@RATE], adaswitch-local, adaswitch-cloud. With --mode local or self-reflection no
    cloud model is loaded, and only the local modes are served.
    """
    try:
        from adaswitch.server import ServerSettings, create_app, serve_forever
    except ImportError as error:
        raise click.ClickException(f"the server needs its extra: pip install 'adaswitch[server]' ({error})") from error

    settings = ServerSettings(
        host=host,
        port=port,
        api_key=api_key or None,
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        request_timeout_s=request_timeout,
        max_body_bytes=max_body_bytes,
        graceful_shutdown_s=graceful_timeout,
        solver=settings_from_options(options),
    )
    if host not in _LOOPBACK and settings.api_key is None:
        click.echo(f"warning: listening on {host} without --api-key: anyone who can reach it can use the models",
                   err=True)
    if settings.model_in_process() and settings.workers() > 1:
        click.echo("warning: a model runs in this process; llama.cpp serves one call at a time, so "
                   "--max-concurrency above 1 only adds contention", err=True)
    try:
        app = create_app(settings)
    except Exception as error:  # a missing model package, a bad spec: say it plainly
        raise click.ClickException(str(error)) from error
    click.echo(f"adaswitch serving local={settings.solver.local} cloud={settings.solver.cloud or '(none)'} "
               f"on http://{host}:{port}/v1 ({settings.workers()} worker(s), queue {max_queue})", err=True)
    try:
        serve_forever(app, settings, log_level)
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled, after the graceful shutdown
        pass
