"""The ``logdot`` subcommands, one module each.

Every module is an applet in the manner of Glasgow's: ``add_arguments(parser)`` adds its
options (with the shared groups of :mod:`logdot.options`), ``run(args)`` does the work and
returns the exit code, and ``DESCRIPTION`` is the text of ``logdot NAME --help``. A module
imports its heavy dependencies (Amaranth, torch, the synthesis flow) inside ``run``, so that
building the parser stays fast. :mod:`logdot.cli` lists the modules; they never import it.
"""
