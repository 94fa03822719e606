"""One fit's callbacks: the caller's progress function, stopping early, and Ctrl-C.

The library asks two things of its caller during a fit (include/gnf.h, gnf_train_config):
progress, every progress_every steps, which may ask to stop; and cancel, once per step
boundary.  Both are called on the thread that runs the fit, and ctypes takes the GIL for them,
so they are ordinary Python.

Ctrl-C: while a fit runs on the main thread, SIGINT gets a handler of its own that only notes
the signal (Python runs it at the next Python code on the main thread, which is the cancel
callback, one step later at most); cancel then stops training the way the CLI's first Ctrl-C does,
and the fit returns the model trained so far, marked gnf.train.stop = "cancelled" and
gnf.train.interrupted = "SIGINT".  The previous handler is put back when the fit ends.
"""
import collections
import contextlib
import math
import signal
import sys
import threading
import warnings

from . import _lib
from ._util import Error, check

Progress = collections.namedtuple(
    "Progress", "step steps loss metric metric_estimate elapsed fraction points_per_s rollbacks event")
Progress.__doc__ = """What a progress callback receives.

step: steps done; steps: the planned step count (0 if not known yet); loss: the last step's mean
training loss; metric: the held-out quality measured at this step — images the full picture's
PSNR (dB), signed distance fields the IoU on held-out points, radiance fields the PSNR of held-out
views — or None when it was not measured at this step (see eval_every); metric_estimate: the
PSNR estimated from the last batch (None for signed distance fields); elapsed: seconds since
training started; fraction: 0..1 toward the first stopping rule; points_per_s: training
throughput; rollbacks: divergence rollbacks so far; event: None, or a one-line note of a
divergence rollback (such calls come at once and their return value is ignored)."""


def _num(x):
    return None if math.isnan(x) else x


class Session:
    """Holds the C callbacks of one fit (they must outlive it) and what they observed."""

    def __init__(self, progress, progress_every):
        if progress is not None and not callable(progress):
            raise Error("progress must be callable (it receives a gnf.Progress), got %r" % (progress,))
        self.user = progress
        self.every = progress_every
        self.error = None          # an exception the progress callback raised
        self.signal = None         # "SIGINT" once Ctrl-C asked to stop
        self._progress = _lib.PROGRESS_FN(self._on_progress)
        self._cancel = _lib.CANCEL_FN(self._on_cancel)

    def configure(self, tc, start_time):
        tc.progress = self._progress
        tc.user = None
        tc.progress_every = self.every
        tc.cancel = self._cancel
        tc.cancel_user = None
        tc.start_time = start_time

    def _on_progress(self, p, user):
        try:
            pr = p.contents
            event = pr.event.decode("utf-8", "replace") if pr.event else None
            if event:
                warnings.warn("gnf: " + event, RuntimeWarning, stacklevel=2)
            if self.user is None or self.error is not None:
                return 0
            r = self.user(Progress(pr.step, pr.steps, pr.loss, _num(pr.quality), _num(pr.quality_est), pr.elapsed_s,
                                   pr.progress, pr.points_per_s, pr.rollbacks, event))
            return 1 if r is False else 0
        except BaseException as e:   # raised again by finish(); training stops now
            self.error = e
            return 1

    def _on_cancel(self, user):
        return 1 if (self.signal is not None or self.error is not None) else 0

    def _on_sigint(self, signum, frame):
        if self.signal is None:
            self.signal = "SIGINT"
            sys.stderr.write("gnf: interrupted (SIGINT): training stops at the next step; the model trained so far "
                             "is returned\n")

    @contextlib.contextmanager
    def sigint_stops_training(self):
        """Within: on the main thread, SIGINT stops training at the next step (see the module)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = signal.getsignal(signal.SIGINT)
        if old in (signal.SIG_IGN, None):
            yield
            return
        signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    def finish(self, model, status, report):
        """After the fit: raises what the progress callback raised, or the library's error;
        marks an interrupted model and records the report on it."""
        if self.error is not None:
            raise self.error
        check(status)
        stop = report.stop_reason.decode() if report.stop_reason else ""
        if stop == "cancelled" and self.signal:
            check(_lib.lib.gnf_model_set_meta(model._h, b"gnf.train.interrupted", self.signal.encode()))
        model._report = {"steps": report.steps, "seconds": report.seconds, "quality": _num(report.quality),
                         "points_per_s": report.points_per_s, "stop_reason": stop, "rollbacks": report.rollbacks}
