"""nox sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``.

Each session builds its own virtualenv with pip (see docs/INSTALL.md: pip honours a local wheel
directory for torch where one is configured; uv would download it).
"""

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session):
    """The whole test suite, slow end-to-end tests included (pass extra pytest args after --)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "not benchmark", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff>=0.5")
    session.run("ruff", "check", "abair", "baselines", "bench", "tests", "results", "tools", "noxfile.py")


@nox.session
def bench(session):
    """pytest-benchmark hot-path benchmarks (adapter merge, blended forward, metrics); not unit tests."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "benchmark", "--benchmark-only", *session.posargs)
