"""The `mwin` command line: typer commands only, no logic of their own.

Layout (one job per module):

* ``app``        the typer app, its commands, ``run``/``main``: the only place outcomes
                 become exit codes
* ``globalopts`` --debug/MWIN_LOG and --color/--no-color, before or after any command
* ``helptext``   plain help at 80 columns: value names, usage, command lists
* ``complete``   shell completion of the addresses in state
* ``options``    options shared by commands, declared once (``Connection``, ``StateOptions``)
* ``output``     --color/--no-color for every view: plans, warnings, apply progress (live
                 lines on a terminal)
* ``guards``     a spec that declares nothing never plans "delete everything" unasked
* ``commands/``  one module per command or command group: parse → one operation → render
* ``planfile``   plans saved with `mwin plan --out`: save, read, verify before apply
* ``prompt``     the only-'yes' confirmation
* ``signals``    SIGINT/SIGTERM during apply and destroy
* ``reports``    the apply summary or failure report; the crash file of an internal error
"""

from reconciler.cli.app import app, main, run

__all__ = ["app", "main", "run"]
