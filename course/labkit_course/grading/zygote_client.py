"""The kernel command on the grader's fast path: ``python -I -S zygote_client.py SOCKET ARGS...``.

jupyter_client starts this small process (standard library only, no site: it starts in
milliseconds) as "the kernel" and signals and kills it like one. It hands its arguments (those
of ``python -m labkit_course.grading.kernel``), its working folder and its stdin/stdout/stderr to the
kernel zygote listening on ``SOCKET`` (:mod:`labkit_course.grading.zygote`), which forks the launcher
with torch, labkit and IPython already imported. This process then:

* forwards SIGINT, SIGTERM and SIGHUP to the forked launcher's process group (which holds the
  world's init; the init forwards them to the kernel);
* stays the forked launcher's lifeline: when this process dies (jupyter_client kills it), the
  launcher sees its socket closed and kills the world (:func:`labkit_course.grading.world.set_lifeline`);
* exits with the world's exit status when it ends;
* dies with the grader's worker that started it (``PR_SET_PDEATHSIG``), like the ordinary
  launcher.

When the zygote cannot be reached it becomes the ordinary launcher (``exec`` of
``python -m labkit_course.grading.kernel ARGS``): slower, never wrong.
"""

import array
import ctypes
import json
import os
import signal
import socket
import struct
import sys


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _fallback(args: list[str]) -> None:
    print("labkit: the kernel zygote is not reachable; starting the kernel the slow way",
          file=sys.stderr)
    os.execv(sys.executable, [sys.executable, "-m", "labkit_course.grading.kernel", *args])


def main(argv: list[str]) -> None:
    """Connect to the zygote at ``argv[0]`` and be the kernel's stand-in (module docstring)."""
    path, args = argv[0], argv[1:]
    parent = os.getppid()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the worker,
    if os.getppid() != parent:  # and so its world dies too (the lifeline), as with the
        sys.exit(1)  # ordinary launcher
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        msg = json.dumps({"argv": args, "cwd": os.getcwd()}).encode()
        sock.sendmsg([struct.pack("!I", len(msg)) + msg],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
        reply = _recv_exact(sock, 4)
    except OSError:
        reply = b""
    if len(reply) != 4:
        sock.close()
        _fallback(args)
    launcher = struct.unpack("!i", reply)[0]

    def forward(signum, _frame):
        try:
            os.killpg(launcher, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    status = _recv_exact(sock, 4)
    sys.exit(struct.unpack("!i", status)[0] if len(status) == 4 else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
