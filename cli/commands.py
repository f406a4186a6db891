"""Command classes shared by the `bpsom` subcommands."""

from __future__ import annotations

from typing import List

import click

from bpsom_core.errors import InputError


class OneLineCommand(click.Command):
    """A command whose usage errors (unknown option, bad value) are one-line InputErrors, exit 2."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise InputError(f"{exc.format_message()} (see 'bpsom {self.name} --help')") from None
