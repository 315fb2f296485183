"""labkit-course: the course tools of the lab, beside the student package ``labkit``.

For TAs and instructors: the autograder and its sandbox (:mod:`labkit_course.grading`), the
release and its audit (:mod:`labkit_course.release`), the student bundle
(:mod:`labkit_course.bundle`), Gradescope (:mod:`labkit_course.gradescope`), benchmarks
(:mod:`labkit_course.bench`), the demo, reference training and the ``labkit`` command
(:mod:`labkit_course.cli`). Students never install it: the notebook needs only ``labkit``.
"""
