"""Threads: the GIL is released while C works, so two models train from two Python threads at
once — each bit-identical to the same fit made alone — and each thread reads its own errors."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np

import gnf
from conftest import IMAGE, ROOT

FIFO_CHILD = textwrap.dedent("""
    import os, sys, tempfile, threading
    sys.path.insert(0, sys.argv[1])
    import gnf
    model = open(sys.argv[2], "rb").read()
    fifo = os.path.join(tempfile.mkdtemp(), "pipe.gnf")
    os.mkfifo(fifo)
    got = []
    def load():
        try:
            got.append(gnf.load(fifo).param_count)
        except gnf.Error as e:
            got.append(str(e))
    t = threading.Thread(target=load)
    t.start()
    with open(fifo, "wb") as f:   # the C reader in the other thread waits for these bytes
        f.write(model)
    t.join()
    os.unlink(fifo)
    print(got[0])
""")


def test_the_gil_is_released_while_c_runs(tmp_path):
    """A thread's gnf.load blocks inside C reading a named pipe until this thread writes the model
    into it: that can only happen if the loading thread let go of the GIL (else a deadlock, which
    the timeout turns into a failure)."""
    m = gnf.fit_image(IMAGE, steps=2)
    m.save(tmp_path / "m.gnf")
    try:
        p = subprocess.run([sys.executable, "-c", FIFO_CHILD, os.path.join(ROOT, "python"), str(tmp_path / "m.gnf")],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("deadlock: the thread inside gnf.load held the GIL") from None
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(m.param_count)


def test_two_models_train_from_two_threads_at_once():
    alone = {s: gnf.fit_image(IMAGE, steps=120, seed=s).params for s in (1, 2)}
    start = threading.Barrier(2)
    events, models, errors = [], {}, []

    def work(seed):
        try:
            start.wait()
            models[seed] = gnf.fit_image(IMAGE, steps=120, seed=seed, progress=lambda p: events.append(seed))
        except BaseException as e:   # reported below
            errors.append(e)
    ts = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for s in (1, 2):
        p = models[s].params
        assert all(np.array_equal(p[k], alone[s][k]) for k in p), "seed %d differs from its fit alone" % s
    # both trained at the same time: each fit's steps fall between the other's first and last
    idx = {s: [i for i, e in enumerate(events) if e == s] for s in (1, 2)}
    assert len(idx[1]) == len(idx[2]) == 120
    assert idx[1][0] < idx[2][-1] and idx[2][0] < idx[1][-1], "the two fits ran one after the other"


def test_the_thread_count_does_not_change_the_model():
    a = gnf.fit_image(IMAGE, steps=40, threads=1).params
    b = gnf.fit_image(IMAGE, steps=40, threads=2).params
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_each_thread_reads_its_own_errors():
    bad = []

    def work(k):
        for i in range(50):
            name = "/nonexistent/thread%d_%d.gnf" % (k, i)
            try:
                gnf.load(name)
            except gnf.Error as e:
                if name not in str(e):
                    bad.append((name, str(e)))
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad, bad[:3]


def test_concurrent_evaluation_of_one_model():
    m = gnf.fit_image(IMAGE, steps=20)
    pts = np.random.default_rng(3).uniform(-1, 1, (20000, 2))
    want = m.eval(pts)
    out = [None] * 4

    def work(k):
        out[k] = m.eval(pts)
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(np.array_equal(o, want) for o in out)
