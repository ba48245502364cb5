"""`edgekit serve BUNDLE`: the on-device model behind an OpenAI-compatible API (and the phone web demo).

Lifecycle: the port is bound first and /health answers 503 while the model loads, then 200. SIGINT and
SIGTERM stop it cleanly: no new connections, in-flight generations cancel at their next token (a
streaming client gets an error event, a waiting one a 503), workers are joined, the model is closed before
the interpreter exits (an onnxruntime session still running at exit aborts the process), exit status 0.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import click
from edgekit.runtime.schema import MAX_PARALLEL

from .run_cmd import spin_option

_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


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
    help="Policy file the web demo reads at /policy.json and a hybrid server (--cloud-url) decides with "
    "(default: the bundle's own, else the shipped default)",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Also accept browser requests from this origin (https://app.example; repeatable; '*' for any). "
    "Loopback pages and the server's own origin are always accepted.",
)
@click.option("--workers", type=click.IntRange(1, 256), default=8, show_default=True, help="Connection threads")
@click.option(
    "--queue",
    "queue_size",
    type=click.IntRange(1, 4096),
    default=16,
    show_default=True,
    help="Connections waiting for a worker; more get 503",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(0.5, 3600),
    default=15.0,
    show_default=True,
    help="Seconds a connection may stay silent before it is closed",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, MAX_PARALLEL),
    default=1,
    show_default=True,
    help="Generations at once, each with its own KV cache; bundles whose graph has a batch dimension decode "
    "them in one call per token. More requests wait for a slot",
)
@click.option(
    "--cloud-url",
    default=None,
    help="Hybrid: chat completions go through the escalation policy (--policy, else the bundle's, else the "
    "shipped one) and escalate to this OpenAI-compatible base URL, e.g. https://api.openai.com/v1",
)
@click.option("--cloud-model", default=None, help="Hybrid: the cloud model name")
@click.option(
    "--cloud-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Hybrid: environment variable with the cloud's key ('' for none)",
)
@click.option(
    "--cloud-timeout",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Hybrid: wall-clock limit of each cloud call; past it the local answer is sent. Default: 30",
)
@click.option(
    "--target-accuracy",
    type=float,
    default=None,
    help="Hybrid: escalate just enough to reach this accuracy (the policy's measured curve)",
)
@click.option(
    "--max-escalation-rate",
    type=float,
    default=None,
    help="Hybrid: the most accurate operating point that escalates at most this share of questions",
)
@click.option(
    "--redact/--no-redact",
    default=True,
    show_default=True,
    help="Hybrid: replace personal data by placeholders before the cloud sees a prompt",
)
@click.option(
    "--tool-examples",
    "examples_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="JSON Lines of worked tool-call examples ({utterance, call: {name, arguments}}); requests with tools are "
    "shown the ones most like them",
)
@click.option("--force", is_flag=True, help="Load even if the memory check says the bundle will not fit.")
@spin_option
def serve(
    bundle,
    host,
    port,
    api_key_env,
    model_id,
    web,
    web_root,
    threads,
    policy_path,
    allow_origins,
    workers,
    queue_size,
    idle_timeout,
    parallel,
    cloud_url,
    cloud_model,
    cloud_key_env,
    cloud_timeout,
    target_accuracy,
    max_escalation_rate,
    redact,
    examples_file,
    force,
    spin,
):
    """Serve BUNDLE at http://HOST:PORT/v1 (chat completions, completions, streaming, /v1/models, /health)."""
    from edgekit.runtime import load
    from edgekit.runtime.errors import ConfigError
    from edgekit.runtime.manifest import read_manifest

    from ..serve import EdgekitServer, ServeOptions, model_id_for
    from ..serve.web import default_web_root

    if cloud_url:  # checked before the port is taken and the model loads
        if not cloud_model:
            raise ConfigError("--cloud-url needs --cloud-model NAME (the model the cloud should use)")
        if cloud_key_env and not os.environ.get(cloud_key_env):
            raise ConfigError(
                f"--cloud-key-env {cloud_key_env}: that environment variable is not set; export the cloud's key "
                "there, or pass --cloud-key-env '' for a cloud without one"
            )
    elif cloud_model or target_accuracy is not None or max_escalation_rate is not None:
        raise ConfigError("--cloud-model, --target-accuracy and --max-escalation-rate need --cloud-url URL")
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
    manifest = None
    policy_file = None
    if root is not None:
        from ..policy.bundle_policy import bundle_policy_path
        from ..policy.policy import Policy, default_policy_path

        # --policy wins, then the policy the bundle carries (sha256-checked), then the shipped default
        carried = None
        if not policy_path:
            manifest = read_manifest(bundle)
            carried = bundle_policy_path(bundle, manifest)
        policy_file = Path(policy_path or carried or default_policy_path()).resolve()
        if not policy_file.is_file():
            raise ConfigError(
                f"--policy {str(policy_file)!r}: no such file; pass a policy written by `edgekit calibrate`"
            )
        Policy.load(policy_file)  # refuse a malformed policy now, not in the phone's browser (which reads its probes)
    tool_examples = None
    if examples_file is not None:
        from .tools_file import read_tool_examples

        tool_examples = read_tool_examples(examples_file)  # a bad file fails here, before the port is taken
    if manifest is None:
        manifest = read_manifest(bundle)  # a bad bundle fails here in one line, before the port is taken
    options = ServeOptions(
        model_id=model_id or model_id_for(manifest, bundle),
        api_key=token,
        web_root=root,
        bundle_dir=Path(bundle).resolve(),
        policy_file=policy_file,
        allowed_origins=tuple(allow_origins),
        workers=workers,
        queue_size=queue_size,
        idle_timeout=idle_timeout,
        parallel=parallel,
        tool_examples=tool_examples,
    )
    try:
        server = EdgekitServer(None, host, port, options=options, manifest=manifest)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    loop = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="edgekit-accept", daemon=True
    )
    loop.start()
    model = None
    try:
        click.echo(f"loading {options.model_id} (GET {server.url}/health is 503 until ready)", err=True)
        model = load(bundle, threads=threads, force=force, parallel=parallel, allow_spinning=spin)
        hybrid = None
        if cloud_url:
            from .ask_cmd import make_client

            hybrid = make_client(
                model,
                cloud_url,
                cloud_model,
                cloud_key_env,
                policy_path,
                False,
                redact,
                cloud_timeout,
                None,
                target_accuracy,
                max_escalation_rate,
            )
        server.set_model(model, hybrid)
        click.echo(
            f"serving {options.model_id} at {server.url}/v1"
            + (f"  (hybrid: escalates to {cloud_url})" if hybrid is not None else "")
            + (f"  (web demo at {server.url}/)" if root else ""),
            err=True,
        )
        if host not in ("127.0.0.1", "localhost", "::1") and not token:
            click.echo(
                "warning: listening beyond loopback without --api-key-env: anyone on the network can use the model",
                err=True,
            )
        while not stop.wait(0.5):
            pass
        click.echo("stopping: finishing or cancelling in-flight requests", err=True)
    finally:
        clean = server.stop(grace=max(idle_timeout, 10.0))
        loop.join(timeout=5)
        if model is not None and clean:  # never close a session a stuck worker may still be running
            if server.hybrid is not None:
                server.hybrid.close()
            model.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not clean:
        raise ConfigError("some requests did not finish within the shutdown grace period; they were abandoned")
    click.echo("stopped", err=True)
