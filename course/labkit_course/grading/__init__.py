"""``labkit grade``: autograde submitted notebooks on top of nbgrader, fairly and safely.

Modules: ``collect`` (inputs, student ids, what is refused and why), ``names`` (an id's file
names), ``course`` (the master nbgrader course), ``prescan`` (what nbgrader's autograde lacks:
unreadable files, stripped metadata, duplicated ids, grade ids of another release; notes on
what it repairs), ``sandbox`` + ``world`` + ``kernel`` + ``guard`` (where and how student code
runs: a process world and a uid per submission), ``execute`` (nbgrader's Execute,
death-tolerant), ``worker`` (one submission), ``batch`` (parallel, resumable), ``results``
(records, grades CSV), ``sheets`` (spreadsheet-safe CSV in and out), ``gradebook`` (master
gradebook), ``feedback`` and ``manual`` (HTML pages); the verb is :mod:`labkit_course.commands.grade`.
Not part of the students' API (``import labkit`` does not import it).
"""
