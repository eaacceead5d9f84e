"""The Jetson workflow is safe to run on a self-hosted board: a fork's pull request runs there
only when a maintainer approves it, no run on main, scheduled run or record_baseline run is
ever cancelled, and the suite's venv lives outside the checkout that actions/checkout cleans.

The workflow's own expressions (the job's `if:`, the concurrency group and
cancel-in-progress) are evaluated here for the events GitHub would send, by a small
evaluator of GitHub's expression language: a check that only looked for a condition's text
would pass `... || true`. The YAML is read with PyYAML, from this interpreter or the tools
venv of ci/install-static-tools.sh; the text checks at the end need neither.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.unit.test_static_checks import tools_python

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "jetson.yml"
RUNBOOK = ROOT / "docs" / "jetson.md"
REPOSITORY = "nvidia/peoplenet-suite"
FORK = "someone/peoplenet-suite"
APPROVAL_LABEL = "safe-to-test"
# Triggers whose runs can only come from people with write access, or from the pull request
# trigger that the job's condition gates. Any other trigger (pull_request_target,
# issue_comment, workflow_run, ...) can start a run for a fork's code: it needs its own gate
# and its own check here before it is allowed.
TRIGGERS_CHECKED = {"push", "pull_request", "workflow_dispatch", "schedule"}


# ---------------------------------------------------------------- GitHub expressions

class Filtered(list):
    """The result of `.*`: a property read from it is read from each element."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|<=|>=|&&|\|\||[!<>().,\[\]*])
  | (?P<name>[A-Za-z_][\w-]*)
)""", re.VERBOSE)


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    while expression[at:].strip():
        match = _TOKEN.match(expression, at)
        if not match:
            raise ValueError(f"cannot read the expression at {expression[at:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


def _truthy(value) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def _number(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def _equal(left, right) -> bool:
    """GitHub's ==: strings compare ignoring case; other mixed types compare as numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        return left is right
    return _number(left) == _number(right)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _property(value, name: str):
    if isinstance(value, Filtered):
        return Filtered(item for item in (_property(v, name) for v in value) if item is not None)
    if isinstance(value, dict):
        for key, item in value.items():
            if key.casefold() == name.casefold():
                return item
    return None


def _format(template: str, *args) -> str:
    """format(): {N} is the Nth argument, {{ and }} are braces."""
    return re.sub(r"\{\{|\}\}|\{(\d+)\}",
                  lambda m: _text(args[int(m.group(1))]) if m.group(1) else m.group(0)[0],
                  template)


def _contains(search, item) -> bool:
    if isinstance(search, list):
        return any(_equal(element, item) for element in search)
    return _text(item).casefold() in _text(search).casefold()


FUNCTIONS = {
    "contains": _contains,
    "startswith": lambda s, p: _text(s).casefold().startswith(_text(p).casefold()),
    "endswith": lambda s, p: _text(s).casefold().endswith(_text(p).casefold()),
    "format": _format,
    "fromjson": json.loads,
    "tojson": json.dumps,
    # A job's condition as the run reaches it: the jobs it needs succeeded.
    "success": lambda: True,
    "always": lambda: True,
    "failure": lambda: False,
    "cancelled": lambda: False,
}


class _Parser:
    """Recursive descent over GitHub's operators, loosest first: || && == != < > ! ."""

    def __init__(self, expression: str, contexts: dict):
        self.tokens = _tokens(expression)
        self.at = 0
        self.contexts = contexts

    def value(self):
        result = self._or()
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.at][1]!r}")
        return result

    def _peek(self, *ops) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at][1] in ops

    def _take(self, op=None):
        kind, text = self.tokens[self.at]
        if op is not None and text != op:
            raise ValueError(f"expected {op!r}, got {text!r}")
        self.at += 1
        return kind, text

    def _or(self):
        left = self._and()
        while self._peek("||"):
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self):
        left = self._equality()
        while self._peek("&&"):
            self._take()
            right = self._equality()
            left = right if _truthy(left) else left
        return left

    def _equality(self):
        left = self._comparison()
        while self._peek("==", "!="):
            _, op = self._take()
            right = self._comparison()
            left = _equal(left, right) == (op == "==")
        return left

    def _comparison(self):
        left = self._unary()
        while self._peek("<", "<=", ">", ">="):
            _, op = self._take()
            a, b = _number(left), _number(self._unary())
            left = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return left

    def _unary(self):
        if self._peek("!"):
            self._take()
            return not _truthy(self._unary())
        return self._postfix(self._primary())

    def _primary(self):
        kind, text = self._take()
        if text == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek("("):
            self._take("(")
            args = []
            while not self._peek(")"):
                args.append(self._or())
                if not self._peek(")"):
                    self._take(",")
            self._take(")")
            return FUNCTIONS[text.casefold()](*args)
        if text not in self.contexts:
            raise ValueError(f"unknown context {text!r}")
        return self.contexts[text]

    def _postfix(self, value):
        while self._peek(".", "["):
            _, op = self._take()
            if op == "[":
                key = self._or()
                self._take("]")
                value = value[int(key)] if isinstance(value, list) else _property(value, _text(key))
            elif self._peek("*"):
                self._take()
                value = Filtered(value.values() if isinstance(value, dict) else value or [])
            else:
                value = _property(value, self._take()[1])
        return value


_EMBEDDED = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def evaluate(expression: str, contexts: dict):
    return _Parser(expression, contexts).value()


def interpolate(text: str, contexts: dict) -> str:
    """A workflow string with its ${{ }} expressions replaced by their values."""
    return _EMBEDDED.sub(lambda m: _text(evaluate(m.group(1), contexts)), text)


def condition(text, contexts: dict) -> bool:
    """A job's `if:` (${{ }} optional, absent: true) or a boolean setting such as
    cancel-in-progress (a YAML scalar, here as text, or an expression)."""
    if text is None:
        return True
    text = str(text).strip()
    whole = _EMBEDDED.fullmatch(text)
    if whole:
        return _truthy(evaluate(whole.group(1), contexts))
    if text in ("true", "false"):
        return text == "true"
    return _truthy(evaluate(text, contexts))


def test_the_evaluator_reads_github_expressions_as_github_does():
    contexts = {"github": {"event": {"pull_request": {"labels": [{"name": "Safe-To-Test"}]}},
                           "event_name": "push"},
                "inputs": {}}
    labels = "github.event.pull_request.labels.*.name"
    assert evaluate(f"contains({labels}, 'safe-to-test')", contexts) is True
    assert evaluate("github.event_name == 'PUSH' && 'yes' || 'no'", contexts) == "yes"
    assert evaluate("!(github.event_name != 'push') && github.nothing.here || 'fallback'",
                    contexts) == "fallback"
    assert evaluate("format('pr-{0}-{1}', 7, true)", contexts) == "pr-7-true"
    assert condition("${{ github.event_name == 'pull_request' }}", contexts) is False
    assert condition("github.event_name == 'push' || false", contexts) is True
    assert condition("true", contexts) is True and condition(None, contexts) is True
    assert interpolate("a-${{ github.event_name }}-${{ inputs.x }}", contexts) == "a-push-"


# ---------------------------------------------------------------- the events

def _event(name: str, run_id: int, *, ref="refs/heads/main", event=None, inputs=None) -> dict:
    return {"github": {"event_name": name, "ref": ref, "run_id": str(run_id),
                       "repository": REPOSITORY, "workflow": "jetson", "sha": "0" * 40,
                       "event": event or {}},
            "inputs": inputs or {}, "vars": {}}


def _pull_request(action: str, run_id: int, *, head=REPOSITORY, number=7, labels=(),
                  label=None) -> dict:
    event = {"action": action, "number": number,
             "pull_request": {"number": number, "head": {"repo": {"full_name": head}},
                              "labels": [{"name": name} for name in labels]}}
    if label is not None:
        event["label"] = {"name": label}
    return _event("pull_request", run_id, ref=f"refs/pull/{number}/merge", event=event)


RUNS_ON_MAIN = {
    "a push to main": _event("push", 101),
    "a scheduled run": _event("schedule", 102),
    "a record_baseline run": _event("workflow_dispatch", 103,
                                    inputs={"record_baseline": True, "baseline_runs": "",
                                            "sweep": False}),
    "a run by hand": _event("workflow_dispatch", 104,
                            inputs={"record_baseline": False, "baseline_runs": "", "sweep": True}),
}
OWN_PULL_REQUESTS = {f"this repository's pull request, {action}": _pull_request(action, 201 + i)
                     for i, action in enumerate(("opened", "synchronize", "reopened"))}
FORK_APPROVED = {"a fork's pull request labeled safe-to-test":
                 _pull_request("labeled", 301, head=FORK, labels=[APPROVAL_LABEL],
                               label=APPROVAL_LABEL)}
FORK_UNAPPROVED = {
    **{f"a fork's pull request, {action}": _pull_request(action, 401 + i, head=FORK)
       for i, action in enumerate(("opened", "synchronize", "reopened"))},
    # The label approved an earlier push; the fork's new push has not been looked at.
    "a fork's new push after safe-to-test": _pull_request("synchronize", 411, head=FORK,
                                                          labels=[APPROVAL_LABEL]),
    "a fork's pull request labeled otherwise": _pull_request("labeled", 412, head=FORK,
                                                             labels=["perf"], label="perf"),
}
OTHER_LABEL = {"this repository's pull request labeled otherwise":
               _pull_request("labeled", 501, labels=["docs"], label="docs")}
ALL_EVENTS = {**RUNS_ON_MAIN, **OWN_PULL_REQUESTS, **FORK_APPROVED, **FORK_UNAPPROVED,
              **OTHER_LABEL}


# ---------------------------------------------------------------- the workflow

LOADER = textwrap.dedent("""
    import json, sys, yaml
    # BaseLoader: every scalar as written (on stays on, true stays the text true).
    print(json.dumps(yaml.load(open(sys.argv[1]), Loader=yaml.BaseLoader)))
""")


@pytest.fixture(scope="module")
def workflow() -> dict:
    try:
        import yaml
    except ImportError:
        python = tools_python("yaml")
        out = subprocess.run([python, "-c", LOADER, str(WORKFLOW)], capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout)
    return yaml.load(WORKFLOW.read_text(), Loader=yaml.BaseLoader)


def _jobs(workflow: dict) -> dict:
    assert workflow.get("jobs"), "the workflow has no jobs"
    return workflow["jobs"]


def _triggers(workflow: dict) -> dict:
    triggers = workflow["on"]
    if isinstance(triggers, str):
        return {triggers: None}
    if isinstance(triggers, list):
        return dict.fromkeys(triggers)
    return triggers


def _runs(workflow: dict, job: dict, contexts: dict) -> bool:
    """Whether GitHub would start the job for this event: its trigger, then its `if:`."""
    triggers = _triggers(workflow)
    name = contexts["github"]["event_name"]
    if name not in triggers:
        return False
    types = (triggers[name] or {}).get("types") if isinstance(triggers[name], dict) else None
    action = contexts["github"]["event"].get("action")
    if name == "pull_request" and action not in (types or ["opened", "synchronize", "reopened"]):
        return False
    return condition(job.get("if"), contexts)


def test_the_workflow_has_only_triggers_this_check_knows(workflow):
    names = set(_triggers(workflow))
    assert names <= TRIGGERS_CHECKED, (
        f"{sorted(names - TRIGGERS_CHECKED)}: a trigger that can run a fork's code on the "
        "board needs a maintainer gate, and this test a check of it")


@pytest.mark.parametrize("event", FORK_UNAPPROVED, ids=str)
def test_a_forks_pull_request_does_not_run_on_the_board_unapproved(workflow, event):
    for job_id, job in _jobs(workflow).items():
        assert not _runs(workflow, job, FORK_UNAPPROVED[event]), \
            f"job {job_id} runs on the self-hosted board for {event}, with no maintainer's approval"


@pytest.mark.parametrize("event", {**RUNS_ON_MAIN, **OWN_PULL_REQUESTS, **FORK_APPROVED}, ids=str)
def test_trusted_and_approved_runs_reach_the_board(workflow, event):
    contexts = {**RUNS_ON_MAIN, **OWN_PULL_REQUESTS, **FORK_APPROVED}[event]
    triggered = contexts["github"]["event_name"] in _triggers(workflow)
    for job_id, job in _jobs(workflow).items():
        # An event the workflow has no trigger for (schedule): the job's condition lets it in.
        runs = _runs(workflow, job, contexts) if triggered else condition(job.get("if"), contexts)
        assert runs, f"job {job_id} does not run for {event}"


def test_another_label_starts_nothing(workflow):
    for job_id, job in _jobs(workflow).items():
        for event, contexts in OTHER_LABEL.items():
            assert not _runs(workflow, job, contexts), f"job {job_id} runs again for {event}"


def _concurrency(workflow: dict) -> list[tuple[str, dict]]:
    """The workflow's concurrency and each job's, as {group, cancel-in-progress}."""
    found = [("the workflow", workflow.get("concurrency"))]
    found += [(f"job {job_id}", job.get("concurrency")) for job_id, job in _jobs(workflow).items()]
    settings = []
    for where, value in found:
        if value is None:
            continue
        if isinstance(value, str):
            value = {"group": value}
        settings.append((where, value))
    return settings


def _group(setting: dict, contexts: dict) -> str:
    return interpolate(" ".join(setting["group"].split()), contexts).casefold()


@pytest.mark.parametrize("event", RUNS_ON_MAIN, ids=str)
def test_no_run_on_main_scheduled_or_record_baseline_is_ever_cancelled(workflow, event):
    """GitHub cancels a run in progress when a newer run of its group has cancel-in-progress,
    and a waiting run whenever a newer one joins its group: so such a run needs
    cancel-in-progress off and a group that no other run (even one of its own kind) joins."""
    protected = RUNS_ON_MAIN[event]
    others = {name: contexts for name, contexts in ALL_EVENTS.items() if name != event}
    # the same event again, as a later run
    again = json.loads(json.dumps(protected))
    again["github"]["run_id"] = "999"
    others[f"another {event}"] = again
    for where, setting in _concurrency(workflow):
        assert not condition(setting.get("cancel-in-progress", "false"), protected), \
            f"{where}: cancel-in-progress is true for {event}"
        group = _group(setting, protected)
        sharing = [name for name, contexts in others.items() if _group(setting, contexts) == group]
        assert not sharing, f"{where}: {event} shares its group {group!r} with {sharing}, " \
                            "which would cancel it while it waits"


def test_a_new_push_to_a_pull_request_cancels_its_older_run(workflow):
    older = _pull_request("synchronize", 601)
    newer = _pull_request("synchronize", 602)
    other_pr = _pull_request("synchronize", 603, number=8)
    settings = _concurrency(workflow)
    assert settings, "the workflow has no concurrency: superseded runs would hold the board"
    for where, setting in settings:
        assert _group(setting, older) == _group(setting, newer), where
        assert condition(setting.get("cancel-in-progress", "false"), newer), where
        assert _group(setting, other_pr) != _group(setting, newer), \
            f"{where}: one pull request's push cancels another pull request's run"


@pytest.mark.parametrize("event", OTHER_LABEL, ids=str)
def test_labelling_a_pull_request_cancels_nothing(workflow, event):
    labelled = OTHER_LABEL[event]
    for where, setting in _concurrency(workflow):
        group = _group(setting, labelled)
        sharing = [name for name, contexts in ALL_EVENTS.items()
                   if name != event and _group(setting, contexts) == group]
        assert not sharing, f"{where}: {event} joins the group of {sharing}"


# ---------------------------------------------------------------- the venv

def _steps(workflow: dict) -> list[dict]:
    return [step for job in _jobs(workflow).values() for step in job.get("steps", [])]


def _uses_the_suite(step: dict) -> bool:
    run = step.get("run", "")
    return "./suite" in run or "ci/jetson-perf.sh" in run or "SUITE_VENV" in run


def _placing_step(workflow: dict) -> int:
    """The index of the step that chooses SUITE_VENV; it comes before every use of the suite."""
    steps = _steps(workflow)
    placing = [i for i, step in enumerate(steps)
               if re.search(r"SUITE_VENV=.*>>\s*\"?\$GITHUB_ENV", step.get("run", ""))]
    assert placing, "no step sets SUITE_VENV for the job: ./suite would build .venv in the checkout"
    first_use = min(i for i, step in enumerate(steps) if _uses_the_suite(step) and i not in placing)
    assert placing[0] < first_use, f"step {steps[first_use].get('name')!r} uses the suite before " \
                                   "its venv is placed"
    return placing[0]


def _place_venv(step: dict, runner: Path, pyproject: str) -> Path:
    """Runs the placing step as the runner lays it out: the checkout in _work/REPO/REPO (which
    actions/checkout cleans) and the tool cache in _work/_tool."""
    checkout = runner / "_work" / "peoplenet-suite" / "peoplenet-suite"
    checkout.mkdir(parents=True, exist_ok=True)
    (checkout / "pyproject.toml").write_text(pyproject)
    github_env = runner / "github_env"
    github_env.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(runner / "home"),
           "GITHUB_ENV": str(github_env), "GITHUB_WORKSPACE": str(checkout),
           "RUNNER_TOOL_CACHE": str(runner / "_work" / "_tool"), "SUITE_PYTHON": sys.executable}
    script = interpolate(step["run"], RUNS_ON_MAIN["a push to main"])
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=checkout, env=env, check=True,
                   capture_output=True, text=True, timeout=60)
    lines = github_env.read_text().splitlines()
    written = dict(line.split("=", 1) for line in lines if "=" in line)
    return Path(written["SUITE_VENV"])


def test_the_venv_lives_outside_the_checkout_keyed_to_pyproject(workflow, tmp_path):
    step = _steps(workflow)[_placing_step(workflow)]
    assert "./suite" not in step["run"], "the step that places the venv only places it"
    pyproject = (ROOT / "pyproject.toml").read_text()
    venv = _place_venv(step, tmp_path, pyproject)
    checkout = tmp_path / "_work" / "peoplenet-suite" / "peoplenet-suite"
    assert venv.is_absolute()
    assert not venv.resolve().is_relative_to(checkout.resolve()), \
        f"{venv} is in the checkout, which actions/checkout cleans"
    assert _place_venv(step, tmp_path, pyproject) == venv, "the same pyproject.toml, the same venv"
    assert _place_venv(step, tmp_path, pyproject + "\n# another dependency\n") != venv, \
        "a changed pyproject.toml gets a venv of its own"


def test_no_step_uses_the_checkouts_venv(workflow):
    for step in _steps(workflow):
        assert ".venv" not in step.get("run", ""), \
            f"step {step.get('name')!r} uses .venv in the checkout, not $SUITE_VENV"



def test_the_plan_cache_keeps_each_plans_engine_json(workflow):
    """A restored plan without the engine.json it was built with cannot be matched to its
    goldens (pnsuite/repository/engine.py)."""
    paths = [line.strip() for step in _steps(workflow)
             if str(step.get("uses", "")).startswith("actions/cache")
             for line in str(step.get("with", {}).get("path", "")).splitlines() if line.strip()]
    plans = [path for path in paths if path.endswith("/model.plan")]
    assert plans, "no step caches a TensorRT plan"
    for plan in plans:
        assert plan.replace("/model.plan", "/engine.json") in paths, \
            f"{plan} is cached without its engine.json"

# ---------------------------------------------------------------- without PyYAML

def test_the_workflow_text_keeps_the_safety_rules():
    """What can be checked on the text alone, so that these rules hold even where no PyYAML
    can read the workflow."""
    text = WORKFLOW.read_text()
    assert "pull_request_target" not in text, "pull_request_target runs with the base's secrets"
    assert not re.search(r"cancel-in-progress:\s*(true|\$\{\{\s*true\s*\}\})", text), \
        "cancel-in-progress is true for every run, main and record_baseline too"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in text
    assert f"'{APPROVAL_LABEL}'" in text
    assert re.search(r"SUITE_VENV=.*>>\s*\"?\$GITHUB_ENV", text)
    assert ".venv" not in text


def test_every_repository_variable_is_in_the_runbook():
    used = set(re.findall(r"\bvars\.(\w+)", WORKFLOW.read_text()))
    table = set(re.findall(r"^\| `(\w+)` \|", RUNBOOK.read_text(), re.MULTILINE))
    assert {"BASELINE_RUNS", "BASELINE_MAX_RUNS", "GATE_INCONCLUSIVE", "RESULTS_STORE_URL"} <= used
    assert used - table == set(), "repository variables the runbook's table does not list"
