"""One module per `mwin` command (or command group). Each command function parses its
options, calls one operation (``reconciler.workflow`` or ``reconciler.executor``), renders
the result and ends with an exit code (``typer.Exit``) or an exception that ``cli.app`` maps
to one. ``cli.app`` registers them."""
