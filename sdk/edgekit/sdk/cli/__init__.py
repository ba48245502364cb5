"""The ``edgekit`` command.

Subcommands live in small modules and are imported only when invoked, so
``edgekit run`` starts without importing the export stack (optimum's CLI does
the same by importing torch inside ``run()``). Every ``EdgekitError`` becomes
one clean line on stderr and exit status 1; click's own usage errors exit 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click
from edgekit.runtime.errors import EdgekitError

from .. import __version__

# command name -> "module:attribute"; each module owns one command (or a group).
COMMANDS: dict[str, str] = {
    "export": "edgekit.sdk.cli.export_cmd:export",
    "tune": "edgekit.sdk.cli.tune_cmd:tune",
    "run": "edgekit.sdk.cli.run_cmd:run",
    "chat": "edgekit.sdk.cli.chat_cmd:chat",
    "info": "edgekit.sdk.cli.info_cmd:info",
    "bench": "edgekit.sdk.cli.bench_cmd:bench",
    "ask": "edgekit.sdk.cli.ask_cmd:ask",
    "serve": "edgekit.sdk.cli.serve_cmd:serve",
    "eval": "edgekit.sdk.cli.eval_cmd:eval_group",
    "calibrate": "edgekit.sdk.cli.calibrate_cmd:calibrate",
    "doctor": "edgekit.sdk.cli.doctor_cmd:doctor",
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = []
        for name, target in COMMANDS.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                available.append(name)
        return sorted(available)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def main() -> None:
    """edgekit: small language models on the device, the cloud only when it should.

    \b
    edgekit export default --out bundles/smollm2     # export the embedded default model
    edgekit chat bundles/smollm2                     # talk to it
    """


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
