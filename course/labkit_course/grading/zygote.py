"""A kernel zygote: torch, labkit and IPython imported once per batch, a fresh fork per kernel.

Starting a student's kernel costs about 3 s of CPU before any of its cells runs: a Python
start, ``import torch`` and labkit (the launcher imports them), IPython, and ``torch._dynamo``
(imported by the test guard's snapshot). With strong isolation (root) each batch of ``labkit grade``
starts one zygote (:class:`Zygote`): a fresh
``python -m labkit_course.grading.zygote SOCKET`` that imports all of that, then waits. Each kernel
start is a connection from :mod:`labkit_course.grading.zygote_client` (the command jupyter_client
runs); the zygote forks, and the fork becomes the kernel launcher *L* of
:mod:`labkit_course.grading.world` (own PID/IPC/network/mount namespaces, the slot's uid): exactly the
steps of ``python -m labkit_course.grading.kernel``, minus the imports.

Nothing is shared between students: the zygote never runs student code, never reads a
course or a submission (it is a fresh process, not a fork of the grader), and each fork is
used for one kernel only. The fork closes the zygote's listening socket before anything
else, so no kernel can ask the zygote for anything. The zygote runs as root (forks must be
able to enter namespaces and drop to the slot's uid), in its own session, and dies with the
batch (``PR_SET_PDEATHSIG``); its forks die with it.
"""

from __future__ import annotations

import array
import importlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import traceback
from pathlib import Path
from typing import NoReturn

__all__ = ["PREIMPORT", "Zygote", "serve"]

# what a graded kernel imports before (or while) it runs its first cell
PREIMPORT = ("torch", "torch._dynamo", "numpy", "labkit", "labkit_course.grading.kernel",
             "labkit_course.grading.guard", "labkit_course.grading.sandbox", "labkit_course.grading.world",
             "ipykernel.kernelapp", "ipykernel.ipkernel", "torch.testing", "numpy.testing")
_MAX_MSG = 1 << 16


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: a 4-byte length, JSON ``{"argv": [...], "cwd": ...}``, three fds."""
    fds = array.array("i")
    data, ancdata, _, _ = conn.recvmsg(_MAX_MSG, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if len(data) < 4:
        raise ValueError("short request")
    size = struct.unpack("!I", data[:4])[0]
    body = data[4:]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    return json.loads(body), list(fds)


def _launcher(conn: socket.socket, request: dict, fds: list[int]) -> NoReturn:
    """In the fork: become ``python -m labkit_course.grading.kernel ARGV`` (the launcher L). The
    world's end reports its status to the client (:func:`labkit_course.grading.world.set_lifeline`);
    a launcher that fails before it reports its own status the same way."""
    lifeline = conn.detach()
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own group: the client forwards signals to it (and the world's init)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.write(lifeline, struct.pack("!i", os.getpid()))
        from labkit_course.grading import kernel, world

        world.set_lifeline(lifeline)
        os.chdir(request["cwd"])
        argv = [str(a) for a in request["argv"]]
        sys.argv = [kernel.__file__, *argv]
        kernel.main(argv, require_world=True)  # never returns with a world
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:  # noqa: BLE001 - report on the kernel's stderr, die
        traceback.print_exc()
        code = 70
    sys.stderr.flush()
    try:
        os.write(lifeline, struct.pack("!i", code))
    except OSError:
        pass
    os._exit(code)


def _reap(_signum, _frame) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(path: str, parent: int) -> NoReturn:
    """Import :data:`PREIMPORT`, listen on the unix socket ``path`` (mode 0600), print
    ``ready`` on stdout, then fork one launcher per connection, forever; die with ``parent``
    (the batch's process)."""
    from labkit_course.grading.world import die_with_parent

    die_with_parent(parent)
    for name in PREIMPORT:
        importlib.import_module(name)
    cwd = os.getcwd()  # `python -m` put it first on sys.path; a kernel would not have it
    sys.path[:] = [p for p in sys.path if p not in ("", cwd)]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    srv.bind(path)
    os.umask(old)
    srv.listen(64)
    signal.signal(signal.SIGCHLD, _reap)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        try:
            request, fds = _recv_request(conn)
        except (OSError, ValueError):
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            srv.close()  # first: no kernel may reach the zygote
            _launcher(conn, request, fds)
        print(f"labkit zygote: forked launcher {pid}", file=sys.stderr, flush=True)
        for fd in fds:
            os.close(fd)
        conn.close()


class Zygote:
    """A running zygote for one batch: ``Zygote.start(folder)``; ``socket`` is its address;
    :meth:`stop` kills it (its forks, launchers of kernels, die with it)."""

    def __init__(self, proc: subprocess.Popen, socket_path: str):
        self.proc, self.socket = proc, socket_path

    @classmethod
    def start(cls, folder: Path, log: Path, timeout: float = 120.0) -> "Zygote":
        """Start a zygote listening in ``folder`` (created 0700); its stderr goes to ``log``.

        Raises:
            RuntimeError: it did not get ready within ``timeout`` seconds (the log says why).
        """
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = str(folder / "zygote.sock")
        if len(path) > 100:
            raise RuntimeError(f"{path} is too long for a unix socket; set TMPDIR to a short folder")
        with open(log, "ab") as err:
            import labkit  # started where `-m` finds labkit; serve() drops that folder from sys.path

            proc = subprocess.Popen(
                [sys.executable, "-m", "labkit_course.grading.zygote", path, str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                cwd=str(Path(labkit.__file__).resolve().parents[1]), start_new_session=True)
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the kernel zygote did not start (see {log})")
        return cls(proc, path)

    def stop(self) -> None:
        """Kill the zygote (and so every launcher it forked) and wait for it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        Path(self.socket).unlink(missing_ok=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
