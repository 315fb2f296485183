"""The command line's verbs, one module per verb (``labkit VERB``); the top of the layers.

Every module here defines ``add_arguments(parser)`` and ``run(args) -> int`` and holds all the
argparse code of its verb; the work itself is done by library functions it imports
(``labkit.reference``, ``labkit.release``, ``labkit.grading`` ...). ``labkit.cli`` dispatches.
"""
