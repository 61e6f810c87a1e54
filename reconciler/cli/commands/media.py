"""`mwin media build|show`: unattended Windows install media without Mold (to inspect them,
or to upload them by hand where mwin cannot reach Mold)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli.options import ColorOpt, SpecArg
from reconciler.cli.output import Output
from reconciler.media import describe
from reconciler.resources.isobuild import build_address

__all__ = ["media_app"]

media_app = typer.Typer(help="Unattended Windows install media: build them from a spec "
                             "without Mold, or show what an image holds.",
                        no_args_is_help=True)


@media_app.command("build")
def media_build(spec: SpecArg,
                address: Annotated[str, typer.Argument(metavar="ADDRESS",
                                                       help="The ISO, e.g. iso.win11-auto.")],
                out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE",
                                                  help="Where to write the ISO.")],
                color: ColorOpt = None) -> None:
    """Build the unattended media of ADDRESS into FILE (the password is read from its
    variable or file now; the file holds it: keep it private)."""
    output = Output(color)
    doc, diags = workflow.validate(spec)
    output.warnings(diags)
    built = build_address(doc.resources, address, out, lambda line: output.echo(line, err=True))
    boot = ", ".join(f"{b.platform} {b.path}" for b in built.boot)
    output.echo(f"Built {out}: media {built.identity}, drivers for {built.windows}, boot "
                f"{boot}.")


@media_app.command("show")
def media_show(file: Annotated[Path, typer.Argument(metavar="FILE", help="An ISO image.")],
               color: ColorOpt = None) -> None:
    """List an image's boot entries, its answer file (passwords masked) and its drivers."""
    output = Output(color)
    report = describe(file)
    output.echo(f"{file} (volume {report.label or '-'})")
    output.echo("Boot entries:")
    for entry in report.boot or []:
        output.echo(f"  {entry.platform:<5} {entry.path or '(image not in the tree)'}  "
                    f"load segment 0x{entry.load_segment:04x}, {entry.sector_count} sector(s)")
    if not report.boot:
        output.echo("  (none: the image does not boot)")
    output.echo(f"Drivers ({len(report.drivers)} files):")
    for path in report.drivers:
        output.echo(f"  {path}")
    output.echo("Guest tools: " + (", ".join(report.tools) or "(none)"))
    output.echo("Answer file (autounattend.xml, passwords masked):" if report.answer
                else "Answer file: none")
    if report.answer:
        output.echo(report.answer.rstrip("\n"))
