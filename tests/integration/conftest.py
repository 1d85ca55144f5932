"""Fixtures for the persh integration tests (see README.md)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402


def pytest_configure(config):
    if not os.environ.get("PERSH_BIN"):
        raise pytest.UsageError("set PERSH_BIN to the persh binary under test")
    if not os.access(os.environ["PERSH_BIN"], os.X_OK):
        raise pytest.UsageError(f"PERSH_BIN={os.environ['PERSH_BIN']} is not executable")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def env(request):
    """A private world: temp dir, config file, no daemon yet. Tears down
    every process the test started, and fails the test if the daemon left
    anything running."""
    e = harness.Env()
    yield e
    problems = e.cleanup()
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed or problems:
        print(f"--- config {e.cfg_path}\n{e.config_text()}")
        print(f"--- daemon log {e.log} (last 6000 chars)\n{e.log_text()[-6000:]}")
        for d in e.daemons:
            print(f"--- daemon {d.pid} exit {d.proc.returncode} stderr\n{d.stderr()[-2000:]}")
        for t in e.terms:
            print(f"--- {t.name} {t.argv} exit {t.proc.returncode}\n{t.output()[-1500:]!r}")
    if os.environ.get("PERSH_TEST_KEEP"):
        print(f"kept {e.root}")
    else:
        e.remove()
    assert not problems, "left running after teardown: " + "; ".join(problems)


@pytest.fixture
def daemon(env):
    """A daemon started with the test configuration (env.set() before
    requesting this fixture is not possible; tests that change the config
    start their own with env.start_daemon())."""
    return env.start_daemon()
