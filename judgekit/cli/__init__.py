"""The `judgekit` command: a thin shell over the library that prints and maps errors to exit codes.

Exit codes: 0 every record has a verdict (judge failures on single records are counted in the
summary); 1 bad input, rubric, output, cache or configuration (stopped before any request, but
for a cache failing mid-run), or another run holds the output; 2 command-line usage; 3 the judge
endpoint failed for the whole run (credentials, unknown model, the circuit breaker, a Retry-After
over --max-retry-wait; output so far is kept); 4 (`score`) the run finished but no row of the
output was judged ok, or more failed than `--max-error-rate`; 5 the output could not be written
(disk full, file size limit; the lines written stay whole); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM), flushed like Ctrl-C.
"""

from __future__ import annotations

import importlib

import click

# Each command's module is imported only when that command runs: `judgekit score` need not pay for
# the openai SDK that `judgekit batch` loads (about half a second of start-up).
_COMMAND_MODULES = {
    "batch": "judgekit.cli.batch",
    "calibrate": "judgekit.cli.calibrate",
    "compare": "judgekit.cli.compare",
    "rubrics": "judgekit.cli.rubrics",
    "score": "judgekit.cli.score",
    "summarize": "judgekit.cli.summarize",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _COMMAND_MODULES.get(cmd_name)
        if module is None:
            return None
        command: click.Command = getattr(importlib.import_module(module), cmd_name)
        return command


@click.group(
    cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="judgekit")
def main() -> None:
    """Score model outputs for harmfulness with an LLM judge."""
