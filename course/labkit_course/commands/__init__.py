"""The command line's verbs, one module per verb (``labkit VERB``); the top of the layers.

Every module here defines ``add_arguments(parser)`` and ``run(args) -> int`` and holds all the
argparse code of its verb; the work itself is done by library functions it imports
(``labkit_course.reference``, ``labkit_course.release``, ``labkit_course.grading`` ...). ``labkit_course.cli`` dispatches.
"""
