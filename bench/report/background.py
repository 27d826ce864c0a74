"""One part of a report computed beside the rest, in a second process, when the CPUs allow it.

The protocol audit (torch: decoding saved PNGs and scoring them under every protocol) needs nothing
the rest of the report makes (tables, figures, grids: pandas and matplotlib, mostly Python on one
core). With two usable cores (:func:`abair.children.usable_cores`) :func:`start` runs it in a second
process while the report goes on, so the report takes about the longer of the two instead of their
sum (``results/main-job/report-bench.sh`` measures it); with one core, it runs in this process when
its result is asked for. The numbers are the same either way (the same function on the same files).

The second process is a fresh interpreter of this environment (``python -c``: it never imports the
caller's script, and it starts clean whatever threads the caller runs, e.g. a notebook that has used
torch). It gets the call as a pickle on its standard input and answers with one on its standard
output: both written by this module, never a user's file. It ignores Ctrl-C (the parent handles it
and ends the child), computes on one thread (the other core is the parent's) and gets ``SIGTERM`` when
its parent exits (:func:`abair.children.dying_with_parent`). The function and its arguments must be
picklable: a module-level function given plain values (paths, names, numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from abair.errors import UserError

_SERVE = "import bench.report.background as b; b.serve()"


def serve() -> None:
    """The second process: read ``(fn, args, kwargs)``, compute, write ``("ok", value)`` or ``("error", exc)``:
    the :class:`UserError` raised, or for any other exception a RuntimeError naming it (its traceback
    printed here, on the shared stderr)."""
    import os
    import pickle
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # one thread: the other core is the parent's (OpenMP threads that spin beside it slow both down)
    os.environ["OMP_NUM_THREADS"] = "1"
    fn, args, kwargs = pickle.load(sys.stdin.buffer)
    answer = os.fdopen(os.dup(1), "wb")  # the answer's own descriptor; anything printed goes to stderr
    sys.stdout.flush()
    os.dup2(2, 1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        message = ("ok", fn(*args, **kwargs))
    except UserError as exc:
        message = ("error", exc)
    except Exception as exc:  # noqa: BLE001 - a bug: its traceback here, on stderr; the parent raises
        import traceback

        traceback.print_exc()
        message = ("error", RuntimeError(f"{type(exc).__name__}: {exc} (its traceback is above)"))
    with answer:
        pickle.dump(message, answer, protocol=pickle.HIGHEST_PROTOCOL)


class Deferred:
    """A value being computed: :meth:`result` waits for it (and raises what the computation raised)."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, what: str, background: bool):
        self.what = what
        self._call = (fn, args, kwargs)
        self._process = None
        if background:
            import pickle
            import subprocess
            import sys

            from abair.children import dying_with_parent

            self._process = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, preexec_fn=dying_with_parent())
            self._process.stdin.write(pickle.dumps(self._call, protocol=pickle.HIGHEST_PROTOCOL))
            self._process.stdin.close()

    @property
    def in_background(self) -> bool:
        """Whether a second process computes it."""
        return self._process is not None

    def result(self) -> Any:
        """The value (computed now, in this process, when no second process was started)."""
        if self._process is None:
            fn, args, kwargs = self._call
            return fn(*args, **kwargs)
        import pickle

        try:
            answer = self._process.stdout.read()
            code = self._process.wait()
        finally:
            self.cancel()
        try:
            kind, value = pickle.loads(answer)
        except (pickle.UnpicklingError, EOFError, ValueError):
            raise UserError(f"the {self.what} process ended without a result (exit code {code}; out of memory?)"
                            "; rerun, or skip it") from None
        if kind == "error":
            raise value
        return value

    def cancel(self) -> None:
        """End the second process (if it still runs) and close its pipe; safe to call more than once."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait()
        if not self._process.stdout.closed:
            self._process.stdout.close()


def start(fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> Deferred:
    """``fn(*args, **kwargs)`` in a second process when this one may use two cores or more, else deferred
    to :meth:`Deferred.result` in this process. ``what`` names the computation in error messages."""
    import sys

    from abair.children import usable_cores

    # an embedding interpreter may have no executable to start a second one with
    return Deferred(fn, args, kwargs, what, background=usable_cores() >= 2 and bool(sys.executable))
