# Threadloom code-interpreter kernel. Runs inside bubblewrap as an unprivileged user.
# Protocol: one JSON object per line. Requests arrive on a private copy of fd 0, replies leave on a
# private copy of fd 1; fds 0/1/2 seen by user code are /dev/null and a capture pipe, so nothing the
# user prints (from Python, C extensions or subprocesses) reaches the protocol by accident.
# User code runs in this process, so it *can* write to the protocol on purpose: the host trusts nothing
# in a reply (it bounds the logs, checks the echoed id, and finds output files and figures itself).
import ast, json, os, resource, signal, sys, threading, traceback

FIGURES = "/opt/threadloom/figures"
PROTO_IN = os.fdopen(os.dup(0), "rb", buffering=0)
PROTO_OUT = os.fdopen(os.dup(1), "wb", buffering=0)

_null = os.open("/dev/null", os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
_pipe_r, _pipe_w = os.pipe()
os.dup2(_pipe_w, 1)
os.dup2(_pipe_w, 2)
os.close(_pipe_w)
sys.stdin = open(0, "r", closefd=False)
sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)

# Writes past RLIMIT_FSIZE fail with EFBIG instead of killing the kernel.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class CpuLimitExceeded(BaseException):
    pass


def _on_xcpu(signum, frame):
    raise CpuLimitExceeded()


signal.signal(signal.SIGXCPU, _on_xcpu)


class Capture:
    """Drains the capture pipe on a thread, keeping at most `limit` bytes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.buf = bytearray()
        self.limit = 65536
        self.dropped = 0
        self.marker = None
        self.seen = threading.Event()
        self.tail = b""
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                chunk = os.read(_pipe_r, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                return
            with self.lock:
                marker = self.marker
                data = chunk
                if marker is not None:
                    window = self.tail + chunk
                    at = window.find(marker)
                    if at >= 0:
                        # Keep what preceded the marker; anything after it belongs to the next execution.
                        keep = at - len(self.tail)
                        data = chunk[:keep] if keep > 0 else b""
                        if keep < 0:
                            # Part of the marker was already taken from the previous chunk.
                            undo = -keep
                            if self.dropped >= undo:
                                self.dropped -= undo
                            else:
                                undo -= self.dropped
                                self.dropped = 0
                                del self.buf[len(self.buf) - undo:]
                        self.marker = None
                        self.tail = b""
                        self._add(data)
                        self.seen.set()
                        continue
                    self.tail = window[-(len(marker) - 1):] if len(marker) > 1 else b""
                self._add(data)

    def _add(self, data):
        room = self.limit - len(self.buf)
        if room >= len(data):
            self.buf += data
        else:
            if room > 0:
                self.buf += data[:room]
            self.dropped += len(data) - max(room, 0)

    def begin(self, limit):
        with self.lock:
            self.buf = bytearray()
            self.dropped = 0
            self.limit = limit

    def finish(self):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        marker = b"\x00TL-SYNC-" + os.urandom(8).hex().encode() + b"\x00"
        with self.lock:
            self.marker = marker
            self.tail = b""
            self.seen.clear()
        os.write(1, marker)
        self.seen.wait(10)
        with self.lock:
            self.marker = None
            return bytes(self.buf), self.dropped


capture = Capture()
KERNEL_PID = os.getpid()
user_globals = {"__name__": "__main__", "__builtins__": __builtins__}


def run_code(code):
    tree = ast.parse(code, "<code>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<code>", "exec"), user_globals)
    if last is not None:
        value = eval(compile(last, "<code>", "eval"), user_globals)
        if value is not None:
            user_globals["_"] = value
            print(repr(value))


def save_figures():
    # Figures go to a folder of their own that the host scans, copies and empties after each execution.
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for i, num in enumerate(plt.get_fignums()):
        try:
            fig = plt.figure(num)
            fig.savefig(os.path.join(FIGURES, "figure_%d.png" % (i + 1)), format="png")
        except Exception:
            traceback.print_exc()
    plt.close("all")


def reap_children():
    # Children the host killed after the last execution are zombies of this process until reaped.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def count_processes():
    # /proc is the sandbox's own pid namespace, so this counts only sandboxed tasks.
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                total += len(os.listdir("/proc/%s/task" % entry))
            except OSError:
                pass
    return total


def set_cpu_budget(seconds):
    if seconds <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    target = int(usage.ru_utime + usage.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (target, hard))
    except (ValueError, OSError):
        pass


def handle(req):
    reap_children()
    capture.begin(int(req.get("max_output", 65536)))
    failed, limit, fatal = False, None, False
    set_cpu_budget(int(req.get("cpu_seconds", 0)))
    try:
        try:
            run_code(req["code"])
        finally:
            if os.getpid() != KERNEL_PID:
                # A forked child must never reach the protocol stream.
                os._exit(1)
    except CpuLimitExceeded:
        failed, limit, fatal = True, "cpu", True
        print("CpuLimitExceeded: the execution used up its CPU time limit.", file=sys.stderr)
    except MemoryError:
        failed, limit = True, "memory"
        traceback.print_exc()
    except KeyboardInterrupt:
        failed = True
        traceback.print_exc()
    except SystemExit as e:
        failed = e.code not in (None, 0)
        if failed:
            print("SystemExit: %r" % (e.code,), file=sys.stderr)
    except BaseException as e:
        failed = True
        if isinstance(e, OSError) and e.errno == 27:
            limit = "file_size"
        elif isinstance(e, OSError) and e.errno == 11:
            limit = "processes"
        tb = e.__traceback__
        # Drop the kernel's own frames so the traceback starts at the user's code.
        while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
    set_cpu_budget(0)
    max_procs = int(req.get("max_processes", 0))
    if limit == "processes" or (max_procs > 0 and count_processes() >= max_procs * 9 // 10):
        # Leftover children may keep the process table full; the host replaces the whole sandbox.
        failed, limit, fatal = True, "processes", True
    try:
        save_figures()
    except BaseException:
        pass
    logs, dropped = capture.finish()
    return {"id": req.get("id"), "logs": logs.decode("utf-8", errors="replace"), "dropped": dropped,
            "failed": failed, "limit": limit, "fatal": fatal}


def main():
    preload = os.environ.get("TL_PRELOAD", "")
    for name in filter(None, preload.split(",")):
        try:
            __import__(name)
        except Exception:
            pass
    if "matplotlib" in preload:
        try:
            import matplotlib.pyplot  # noqa: F401
        except Exception:
            pass
    capture.begin(65536)
    capture.finish()
    PROTO_OUT.write(b'{"ready":true}\n')
    while True:
        line = PROTO_IN.readline()
        if not line:
            return
        req = json.loads(line)
        reply = handle(req)
        PROTO_OUT.write(json.dumps(reply).encode("utf-8") + b"\n")
        if reply.get("fatal"):
            os._exit(3)


main()
