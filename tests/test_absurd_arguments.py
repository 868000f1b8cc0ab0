"""Absurd window arguments and output sizes (up to 2^62) on small inputs
(tests/absurd_arguments.py): every call returns at once, with torch's result
or an exception of torch's type whose message names the argument (or says
the output cannot be allocated). Run in a child process: a hang fails the
test instead of stalling the suite. The sanitizer stage (tools/sanitize.sh)
runs this under AddressSanitizer and UBSan, which also catch any integer
overflow on the way."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch

HERE = pathlib.Path(__file__).resolve().parent
# Each call gets this long; the data are tiny, so a call that takes longer is a hang.
SECONDS_PER_CALL = 20


@pytest.fixture(scope="module")
def reports():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        run = subprocess.run([sys.executable, str(HERE / "absurd_arguments.py")], capture_output=True, text=True,
                             env=env, timeout=900)
    except subprocess.TimeoutExpired as timeout:
        started = [line for line in (timeout.stdout or b"").decode().splitlines() if line.startswith("START ")]
        pytest.fail(f"hung on: {started[-1] if started else 'the first case'}")
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def test_every_case_ran(reports):
    import absurd_arguments
    assert [r["name"] for r in reports] == [name for name, _, _ in absurd_arguments.cases()]
    assert len(reports) > 200


def test_no_call_hangs(reports):
    slow = [(r["name"], r["ours"]["seconds"]) for r in reports if r["ours"]["seconds"] > SECONDS_PER_CALL]
    assert not slow, slow


def test_results_are_torchs(reports):
    succeeded = [r for r in reports if "result" in r["ours"]]
    assert len(succeeded) > 20  # the battery also holds calls that must work
    for r in succeeded:
        assert "result" in r["torch"], (r["name"], r["torch"])  # where torch raises or hangs, so do we
        for ours, theirs in zip(r["ours"]["result"], r["torch"]["result"], strict=True):
            assert ours["shape"] == theirs["shape"] and ours["dtype"] == theirs["dtype"], r["name"]
            if theirs["values"] is not None:
                torch.testing.assert_close(torch.tensor(ours["values"]), torch.tensor(theirs["values"]),
                                           rtol=1e-5, atol=1e-12, equal_nan=True, msg=r["name"])


def test_errors_have_torchs_type_and_name_the_argument(reports):
    for r in (r for r in reports if "error" in r["ours"]):
        ours, theirs = r["ours"], r["torch"]
        if "error" in theirs:
            assert ours["error"] == theirs["error"], (r["name"], ours, theirs)
        else:  # torch computes a result (or hangs); we may decline, with a RuntimeError
            assert ours["error"] == "RuntimeError", (r["name"], ours)
        message = ours["message"]
        assert r["argument"] in message or "allocate" in message, (
            r["name"], message)
