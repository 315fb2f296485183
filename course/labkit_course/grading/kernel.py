"""The student's kernel: ``python -m labkit_course.grading.kernel --sandbox CONFIG -f CONNECTION``.

It enters the sandbox (:mod:`labkit_course.grading.sandbox`) before importing IPython, then runs an
IPython kernel whose test cells are guarded (:mod:`labkit_course.grading.guard`). The grader marks a
test cell by prefixing its code with one line ``#labkit-test <token>``; the token is a secret
passed in ``LABKIT_GUARD_TOKEN`` and removed from the environment before student code runs.
"""

from __future__ import annotations

import sys

MARKER = "#labkit-test"


def _kernel_class():  # imported late: IPython must load after the sandbox is entered
    from ipykernel.ipkernel import IPythonKernel

    from labkit_course.grading.guard import Guard

    class GuardedKernel(IPythonKernel):
        """IPython kernel that runs marked test cells inside a :class:`Guard`."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            import os
            self._token = os.environ.pop("LABKIT_GUARD_TOKEN", "")
            self._guard: Guard | None = None

        async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                             allow_stdin=False, **kwargs):
            if self._guard is None:  # first request: before any student code has run
                self._guard = Guard()
            first, _, rest = code.partition("\n")
            if not self._token or first.strip() != f"{MARKER} {self._token}":
                return await super().do_execute(code, silent, store_history, user_expressions,
                                                allow_stdin, **kwargs)
            self._guard.enter(self.shell)
            try:
                reply = await super().do_execute(rest, silent, store_history, user_expressions,
                                                 allow_stdin, **kwargs)
            finally:
                changed = self._guard.exit(self.shell)
            if changed and reply.get("status") == "ok":
                evalue = ("this test rebound objects the tests rely on: " + ", ".join(changed[:5])
                          + " (student code must not monkeypatch builtins, torch or numpy)")
                content = {"ename": "TamperingError", "evalue": evalue,
                           "traceback": [f"TamperingError: {evalue}"]}
                self.send_response(self.iopub_socket, "error", content)
                reply = {**reply, "status": "error", **content}
            return reply

    return GuardedKernel


def main(argv: list[str], *, require_world: bool = False) -> None:
    """Enter the sandbox named by ``--sandbox`` and run the kernel with the remaining args.

    With ``world`` in the sandbox config this process is only the launcher: the kernel runs
    two processes down, in its own namespaces (:func:`labkit_course.grading.sandbox.enter_world`).
    ``require_world``: refuse a config without ``world`` (a fork of the kernel zygote,
    :mod:`labkit_course.grading.zygote`, must not become a kernel itself).
    """
    from pathlib import Path

    from labkit_course.grading.sandbox import SandboxConfig, enter_sandbox, enter_world

    import os

    start_cwd = os.getcwd()
    args = list(argv)
    i = args.index("--sandbox")
    cfg_path = Path(args[i + 1])
    del args[i:i + 2]
    cfg = SandboxConfig.read(cfg_path)
    cfg_path.unlink()
    if require_world and not cfg.world:
        raise RuntimeError("the kernel zygote starts kernels in a process world only")
    j = args.index("-f")

    def run(connection_file: str) -> None:
        args[j + 1] = connection_file
        sys.path[:] = [p for p in sys.path if p not in ("", ".", start_cwd)]  # no imports from the work folder
        from ipykernel.kernelapp import IPKernelApp

        # ignore_cwd: IPython would put the work folder back on sys.path at start-up
        IPKernelApp.launch_instance(argv=[*args, "--IPKernelApp.ignore_cwd=True"],
                                    kernel_class=_kernel_class())
        sys.stdout.flush()
        sys.stderr.flush()

    if cfg.world:
        enter_world(cfg, args[j + 1], run)  # never returns
    run(enter_sandbox(cfg, args[j + 1]))


if __name__ == "__main__":
    main(sys.argv[1:])
