"""Cells that attack other students' grading through processes, users and the network.

Each is bounded (it stops by itself within seconds), and the two that send signals only act
when they run as a sandbox uid (61000..61999) in a fresh PID namespace (fewer than 50
processes visible in /proc): if the sandbox ever failed to build a process world they would
do nothing, never kill a process outside it. The test that expects them to act then fails.
"""

from __future__ import annotations

IN_WORLD = ("61000 <= os.getuid() < 62000 and "
            "len([p for p in os.listdir('/proc') if p.isdigit()]) < 50")

# A detached (setsid) loop that SIGKILLs every process it may signal, for at most 20 s.
KILL_ALL_DETACHED = (
    "import os, subprocess\n"
    f"if {IN_WORLD}:\n"
    "    subprocess.Popen(['sh', '-c', 'sleep 1; end=$(($(date +%s) + 20)); "
    "while [ $(date +%s) -lt $end ]; do kill -9 -1; sleep 0.3; done'],\n"
    "                     start_new_session=True, stdin=subprocess.DEVNULL,\n"
    "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "    print('kill loop started')\n")
SLEEP = "import time\ntime.sleep({seconds})"  # the killer's kernel dies in here

# A grandchild in its own session, its parent gone: a daemon. Sleeps at most 60 s.
DOUBLE_FORK_SLEEPER = (
    "import os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(60)\n"
    "    os._exit(0)\n"
    "os.wait()\nprint('sleeper detached')\n")

def fork_bomb(hold: float = 2.0) -> str:
    """A cell that forks until its uid's process limit stops it (for at most ``hold`` s); every
    child holds its slot until ``hold`` s after the start. Prints ``BOMB start end children``."""
    bomb = ("import os, time\n"
            f"t0, kids = time.time(), []\n"
            "try:\n"
            f"    while len(kids) < 3000 and time.time() < t0 + {hold}:\n"
            "        pid = os.fork()\n"
            "        if pid == 0:\n"
            f"            time.sleep(max(0.0, t0 + {hold} - time.time()))\n"
            "            os._exit(0)\n"
            "        kids.append(pid)\n"
            "except OSError as exc:\n"
            "    print('fork bomb stopped at', len(kids), exc.strerror)\n"
            "for pid in kids:\n"
            "    os.waitpid(pid, 0)\n"
            "print('BOMB', t0, time.time(), len(kids))\n")
    return ("import subprocess, sys\n"
            f"print(subprocess.run([sys.executable, '-S', '-c', {bomb!r}], capture_output=True,\n"
            "                     text=True, timeout=60).stdout)\n")


def threads(rounds: int = 8, delay: float = 0.5) -> str:
    """A cell that starts 64 threads at a time, ``rounds`` times (about 0.2 s each) after
    ``delay`` s; raises RuntimeError if it cannot. Prints ``THREADS start end``."""
    return ("import threading, time\n"
            "t0 = time.time()\n"
            f"time.sleep({delay})\n"
            f"for _ in range({rounds}):\n"
            "    ts = [threading.Thread(target=time.sleep, args=(0.2,)) for _ in range(64)]\n"
            "    for t in ts:\n"
            "        t.start()\n"
            "    for t in ts:\n"
            "        t.join()\n"
            "print('THREADS', t0, time.time())\n")


def connect(port: int) -> str:
    """A cell that tries to reach a listener on the host's loopback at ``port``."""
    return ("import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
            "    print('NETWORK REACHED')\n"
            "except OSError as exc:\n"
            "    print('network blocked:', type(exc).__name__)\n")


SHARED_PLACES = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def leave_files(tag: str) -> str:
    """A cell that writes a file named ``tag`` into every world-writable place it can."""
    return ("import os\n"
            f"for d in {SHARED_PLACES!r}:\n"
            "    try:\n"
            f"        open(os.path.join(d, {tag!r}), 'w').write('secret answer')\n"
            "        print('left', d)\n"
            "    except OSError as exc:\n"
            "        print('could not write', d, type(exc).__name__)\n")


def find_files(tag: str) -> str:
    """A cell that looks for the files of :func:`leave_files` and prints what it finds."""
    return ("import os\n"
            f"for d in {SHARED_PLACES!r}:\n"
            f"    p = os.path.join(d, {tag!r})\n"
            "    print('FOUND' if os.path.exists(p) else 'absent', p)\n")
