"""`edgekit serve BUNDLE`: the on-device model behind an OpenAI-compatible API (and the phone web demo)."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("serve")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 exposes it to the LAN)"
)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option(
    "--api-key-env",
    default=None,
    help="Require 'Authorization: Bearer <token>' with the token from this environment variable",
)
@click.option("--model-id", default=None, help="Model id clients pass (default: the bundle's model name)")
@click.option("--web", is_flag=True, help="Also serve the phone web demo at / and the bundle files at /bundle/")
@click.option(
    "--web-root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Web demo folder (default: android_demo/web)",
)
@click.option("--threads", type=int, default=None, help="onnxruntime threads")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Policy file the web demo reads at /policy.json (default: the shipped default policy)",
)
@click.option("--force", is_flag=True, help="Load even if the memory check says the bundle will not fit.")
def serve(bundle, host, port, api_key_env, model_id, web, web_root, threads, policy_path, force):
    """Serve BUNDLE at http://HOST:PORT/v1 (chat completions, streaming, /v1/models)."""
    from edgekit.runtime import load
    from edgekit.runtime.errors import ConfigError

    from ..serve import EdgekitServer, ServeOptions, model_id_for
    from ..serve.web import default_web_root

    token = None
    if api_key_env:
        token = os.environ.get(api_key_env)
        if not token:
            raise ConfigError(
                f"--api-key-env {api_key_env}: that environment variable is not set; export the token there"
            )
    root = None
    if web or web_root is not None:
        root = (web_root or default_web_root()).resolve()
        if not (root / "index.html").is_file():
            raise ConfigError(f"web root {str(root)!r} has no index.html; pass --web-root DIR with the demo's files")
    policy_file = None
    if root is not None:
        from ..policy.policy import Policy, default_policy_path

        policy_file = Path(policy_path or default_policy_path()).resolve()
        if not policy_file.is_file():
            raise ConfigError(
                f"--policy {str(policy_file)!r}: no such file; pass a policy written by `edgekit calibrate`"
            )
        Policy.load(policy_file)  # refuse a malformed policy now, not in the phone's browser
    model = load(bundle, threads=threads, force=force)
    options = ServeOptions(
        model_id=model_id or model_id_for(model, bundle),
        api_key=token,
        web_root=root,
        bundle_dir=Path(bundle).resolve(),
        policy_file=policy_file,
    )
    try:
        server = EdgekitServer(model, host, port, options=options)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    click.echo(
        f"serving {options.model_id} at {server.url}/v1" + (f"  (web demo at {server.url}/)" if root else ""), err=True
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo(
            "warning: listening beyond loopback without --api-key-env: anyone on the network can use the model",
            err=True,
        )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        model.close()
