"""The model-backed engines (implement, write_test, fix_test) and the context they build,
with a scripted backend behind a real ModelService and a real governance engine, over an
indexed copy of the ``exec_workspace`` fixture. Model answers are deterministic here; the
real model has its own integration test."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hexad.core.db import Connection
from hexad.core.settings import ModelSettings
from hexad.execution.context import build_context
from hexad.execution.engines import model
from hexad.execution.engines.base import Draft, EngineError
from hexad.execution.models import ModelService
from hexad.execution.sources import DiskSources
from hexad.governance import Action, Engine, open_engine
from hexad.inference.base import GenerationRequest
from hexad.inference.fake import Answer, ScriptedBackend
from hexad.inference.prompts import load_template, prompt
from hexad.memory.service import Memory
from hexad.perception.index import IndexReader

FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"

POLICY = """
version = 1
[budgets]
tokens_per_task = {per_task}

[routing.tasks.implement]
engine = "model"
model = "local"

[routing.tasks.write_test]
engine = "model"
model = "local"

[routing.tasks.fix_test]
engine = "model"
model = "local"
{extra}
"""

VAULT_RULE = """
[[rules]]
id = "vault-stays-local"
effect = "deny"
why = "the vault module holds credentials"
when = { kinds = ["read"], paths = ["inventory/vault.py"] }
"""

NO_MODELS_RULE = """
[[rules]]
id = "no-models"
effect = "deny"
why = "models are switched off in this workspace"
when = { kinds = ["generate"] }
"""

VAULT = '''\
"""Credentials for the price feed."""

from inventory.pricing import clamp

API_KEY = "sk-very-secret"


def guarded_quantity(quantity: int) -> int:
    """Order quantities the feed accepts."""
    return clamp(quantity, 0, 10)
'''

LEDGER = '''\
"""A running ledger."""


class Ledger:
    """Amounts booked so far."""

    entries: list[int]

    def __init__(self) -> None:
        self.entries = []

    def add(self, amount: int) -> None:
        self.entries.append(amount)

    def total(self) -> int:
        """The sum of every amount booked."""
        ...
'''

CLAMP = "def clamp(value: int, low: int, high: int) -> int:\n    return max(low, min(value, high))"
CLAMP_BODY = "return max(low, min(value, high))"


@dataclass
class Env:
    root: Path
    conn: Connection
    reader: IndexReader
    sources: DiskSources
    backend: ScriptedBackend
    service: ModelService
    engine: Engine

    def answer(self, answer: Answer) -> None:
        self.backend.script["local"] = answer

    def prompt_text(self, call: int = -1) -> str:
        _, request = self.backend.calls[call]
        return "\n".join(m.content for m in request.messages)

    def implement(self, qualname: str = "inventory.pricing.clamp", **kwargs: Any) -> Draft:
        path = self.reader.lookup(qualname)[0].path
        return model.implement(
            self.service, self.sources, self.reader, self.conn, path, qualname, **kwargs
        )


@pytest.fixture
def make_env(tmp_path: Path, indexed: Callable[[Path], Connection]) -> Callable[..., Env]:
    def make(
        *,
        per_task: int = 100_000,
        extra: str = "",
        files: dict[str, str] | None = None,
        name: str = "ws",
    ) -> Env:
        root = tmp_path / name
        shutil.copytree(FIXTURE, root)
        for rel, text in (files or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        policies = root / ".hexad" / "policies"
        policies.mkdir(parents=True, exist_ok=True)
        (policies / "test.toml").write_text(
            POLICY.format(per_task=per_task, extra=extra), encoding="utf-8"
        )
        conn = indexed(root)
        engine = open_engine(root, user_file=None)
        backend = ScriptedBackend()
        service = ModelService(
            engine, {"local": ModelSettings(path=str(root / "model.gguf"))}, {"llama": backend}
        )
        return Env(root, conn, IndexReader(conn), DiskSources(root), backend, service, engine)

    return make


def _function(text: str, name: str) -> ast.FunctionDef:
    found = [
        n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == name
    ]
    assert len(found) == 1, f"{name} defined {len(found)} times"
    return found[0]


def _body(text: str, name: str) -> str:
    fn = _function(text, name)
    body = fn.body[1:] if ast.get_docstring(fn) else fn.body
    return "\n".join(ast.unparse(stmt) for stmt in body)


def _after(draft: Draft, path: str) -> str:
    change = draft.change.file(path)
    assert change is not None and change.after is not None
    compile(change.after, path, "exec")
    return change.after


# -- implement -----------------------------------------------------------------------------


def test_implement_fills_the_stub_with_the_models_body(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(CLAMP)
    draft = env.implement(task_id="t1")

    before = (env.root / "inventory/pricing.py").read_text(encoding="utf-8")
    assert draft.change.file("inventory/pricing.py") is not None
    assert draft.change.files[0].before == before
    after = _after(draft, "inventory/pricing.py")
    assert _body(after, "clamp") == CLAMP_BODY
    assert ast.get_docstring(_function(after, "clamp")) == ast.get_docstring(
        _function(before, "clamp")
    )
    assert draft.change.lines_changed() == 2  # the stub line out, the body line in
    for other in ("with_tax", "discount"):
        assert _body(after, other) == _body(before, other)

    assert (draft.kind, draft.engine, draft.model) == ("implement", "model", "local")
    assert draft.prompt_hash == prompt("implement").label
    assert draft.intent.kind == "implement"
    assert draft.intent.changed == draft.intent.keep_signature == ("inventory.pricing.clamp",)
    assert draft.intent.added == draft.intent.removed == ()
    assert draft.targets[0].path == "inventory/pricing.py" and draft.targets[0].line == 17
    assert draft.symbols == ("inventory.pricing.clamp",)
    ev = draft.evidence
    assert ev["finish_reason"] == "stop" and ev["prompt"] == draft.prompt_hash
    assert ev["logprobs"]["mean_logprob"] == pytest.approx(-0.1)
    assert ev["tokens"] == ev["prompt_tokens"] + ev["completion_tokens"] > 0
    assert ev["samples"] == 1 and ev["agreement"] == 1.0
    assert "repo_map" in ev["context"]["parts"] and ev["context"]["refused"] == []
    spent = env.engine.ledger.spent("tokens", task_id="t1")  # type: ignore[union-attr]
    assert spent == ev["tokens"]

    text = env.prompt_text()
    assert "def clamp(value: int, low: int, high: int) -> int:" in text
    assert "limited to the range" in text  # the docstring
    assert "raise NotImplementedError" not in text  # the stub body is not shown
    assert "def with_tax(amount: Decimal) -> Decimal" in text  # the repository map
    assert "from decimal import Decimal" in text  # the file's imports


def test_the_original_signature_and_docstring_are_kept(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "def clamp(v, lo=0, hi=10):\n"
        '    """Clamp it."""\n'
        "    # below the range\n"
        "    if v < lo:\n"
        "        return lo\n"
        "    return min(v, hi)\n"
    )
    draft = env.implement()
    after = _after(draft, "inventory/pricing.py")
    assert "def clamp(value: int, low: int, high: int) -> int:" in after
    assert '"""Return ``value`` limited to the range ``low``..``high`` inclusive."""' in after
    assert "Clamp it." not in after
    assert "        # below the range\n        if v < lo:\n            return lo" not in after
    assert "    # below the range\n    if v < lo:\n        return lo\n    return min(v, hi)\n" in (
        after
    )
    assert any("changed the signature" in n for n in draft.notes)
    assert any("docstring" in n for n in draft.notes)
    assert draft.evidence["signature_changed"] is True


@pytest.mark.parametrize(
    "answer",
    [
        f"Sure! Here is the function:\n\n```python\n{CLAMP}\n```\n\nIt clamps the value.",
        f"```\n{CLAMP}\n```",
        f"```python\n{CLAMP}\n",  # the closing fence cut off
        f"Here you go:\n{CLAMP}\n\nThis returns low when value is below low.",
        "    " + CLAMP.replace("\n", "\n    "),  # indented
        f"import math\n\n\n{CLAMP}\n\n\nprint(clamp(5, 0, 3))\n",
        f"    {CLAMP_BODY}\n",  # only the body, continuing the prompt's signature
        f"```python\n{CLAMP_BODY}\n```",
        f"The body is:\n\n    {CLAMP_BODY}\n\nThat is all.",
        f"Complete this function.\n\n{CLAMP}\n",  # the prompt echoed, then the code
    ],
    ids=[
        "fenced-prose",
        "bare-fence",
        "unclosed-fence",
        "prose",
        "indented",
        "extra-code",
        "body-only",
        "fenced-body",
        "prose-body",
        "echo",
    ],
)
def test_answers_are_read_through_fences_and_prose(
    make_env: Callable[..., Env], answer: str
) -> None:
    env = make_env()
    env.answer(answer)
    after = _after(env.implement(), "inventory/pricing.py")
    assert _body(after, "clamp") == CLAMP_BODY


def test_an_answer_cut_by_max_tokens_keeps_what_parses(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "def clamp(value: int, low: int, high: int) -> int:\n    if value < low:\n        "
        "return low\n    if value > high:\n        return high\n    return value"
    )
    draft = env.implement(max_tokens=31)  # words: cut inside the second `if`
    after = _after(draft, "inventory/pricing.py")
    assert _body(after, "clamp") == "if value < low:\n    return low"
    assert draft.evidence["finish_reason"] == "length"
    assert any("cut by max_tokens" in n for n in draft.notes)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("I am sorry, I cannot write this function for you.", "is not Python"),
        ("def other(x):\n    return x", "has no def clamp"),
        ('def clamp(value, low, high):\n    """Only a docstring."""', "gives clamp no body"),
        ("", "an empty answer"),
        ("(none)\n", "has no def clamp"),  # a bare name is no body
        ("def clamp(value, low, high):\n    raise NotImplementedError", "no body"),
    ],
)
def test_an_unusable_answer_is_an_error_with_an_excerpt(
    make_env: Callable[..., Env], answer: str, why: str
) -> None:
    env = make_env()
    env.answer(answer)
    with pytest.raises(EngineError, match=why) as error:
        env.implement()
    assert answer.split("\n", maxsplit=1)[0][:30] in str(error.value)


def test_a_template_can_replace_the_packaged_prompt(
    make_env: Callable[..., Env], tmp_path: Path
) -> None:
    env = make_env()
    env.answer(CLAMP)
    path = tmp_path / "prompts" / "implement.toml"
    path.parent.mkdir()
    path.write_text('name = "implement"\nversion = "x"\nuser = "Do it: $signature"\n')
    template = load_template(path)
    draft = env.implement(template=template)
    assert draft.prompt_hash == template.label != prompt("implement").label
    assert env.prompt_text().startswith("user: Do it: def clamp(") is False
    assert env.prompt_text().startswith("Do it: def clamp(")


def test_a_function_with_a_body_is_not_a_stub(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(CLAMP)
    with pytest.raises(EngineError, match="with_tax already has a body"):
        env.implement("inventory.pricing.with_tax")
    with pytest.raises(EngineError, match="is not a function"):
        env.implement("inventory.stock.Item")
    assert env.backend.calls == []  # refused before any model call


def test_unreadable_targets_are_engine_errors(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(CLAMP)
    broken = DiskSources(env.root, {"inventory/pricing.py": ("def clamp(:\n", 2)})
    cases = [
        (env.sources, "inventory/missing.py", "cannot read inventory/missing.py"),
        (env.sources, "pyproject.toml", "not a Python file"),
        (env.sources, "../outside.py", "governance does not allow"),  # outside the workspace
        (broken, "inventory/pricing.py", "does not parse"),
        (env.sources, "inventory/report.py", "no definition of inventory.pricing.clamp"),
    ]
    for sources, path, why in cases:
        with pytest.raises(EngineError, match=why):
            model.implement(
                env.service, sources, env.reader, env.conn, path, "inventory.pricing.clamp"
            )
    assert env.backend.calls == []


def test_stubs_come_in_every_form() -> None:
    def stub(source: str) -> bool:
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.FunctionDef)
        return model.is_stub(node)

    assert stub("def f():\n    pass")
    assert stub("def f(): ...")
    assert stub('def f():\n    """Doc."""')
    assert stub('def f():\n    """Doc."""\n    raise NotImplementedError("later")')
    assert stub("def f():\n    ...\n    pass")
    assert not stub("def f():\n    return 1")
    assert not stub("def f():\n    raise ValueError")


def test_a_one_line_stub_and_crlf_line_ends_are_kept() -> None:
    text = 'import os\r\n\r\ndef f(x): """Doc."""; ...\r\n\r\nZ = 1\r\n'
    node = ast.parse(text).body[1]
    assert isinstance(node, ast.FunctionDef)
    after = model.replace_body(text, node, ["if x:", "    return 1", "return 2"])
    assert after == (
        'import os\r\n\r\ndef f(x):\r\n    """Doc."""\r\n    if x:\r\n        return 1\r\n'
        "    return 2\r\n\r\nZ = 1\r\n"
    )


def test_a_method_stub_is_written_at_the_methods_indentation(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(files={"inventory/ledger.py": LEDGER})
    env.answer("def total(self) -> int:\n    return sum(self.entries)")
    draft = env.implement("inventory.ledger.Ledger.total")
    after = _after(draft, "inventory/ledger.py")
    assert '        """The sum of every amount booked."""\n        return sum(self.entries)\n' in (
        after
    )
    assert draft.intent.changed == ("inventory.ledger.Ledger.total",)
    # the enclosing class went into the context as an outline
    context = env.prompt_text()
    assert "class Ledger:" in context and "def add(self, amount: int) -> None: ..." in context
    assert "the definition being written" in context


def test_governance_refusals_are_engine_errors_with_the_reason(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(extra=NO_MODELS_RULE)
    env.answer(CLAMP)
    with pytest.raises(EngineError, match="models are switched off in this workspace"):
        env.implement()
    assert env.backend.calls == []


def test_a_spent_budget_is_an_engine_error(make_env: Callable[..., Env]) -> None:
    env = make_env(per_task=50)  # less than the prompt alone
    env.answer(CLAMP)
    with pytest.raises(EngineError, match="token budget is spent"):
        env.implement(task_id="small")
    assert env.backend.calls == []


def test_a_task_routed_elsewhere_is_an_engine_error(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(CLAMP)
    env.service.models.clear()
    with pytest.raises(EngineError, match="not configured"):
        env.implement()


def test_samples_vote_and_their_agreement_is_recorded(make_env: Callable[..., Env]) -> None:
    env = make_env()
    answers = {
        0: CLAMP,
        1: "def clamp(value, low, high):\n    return max( low , min(value,high) )",  # same code
        2: "def clamp(value, low, high):\n    return min(high, max(low, value))",
        3: "no idea",
    }

    def by_seed(request: GenerationRequest) -> str:
        return answers[request.seed or 0]

    env.answer(by_seed)
    draft = env.implement(samples=4)
    assert _body(_after(draft, "inventory/pricing.py"), "clamp") == CLAMP_BODY
    ev = draft.evidence
    assert (ev["samples"], ev["samples_parsed"], ev["distinct_bodies"]) == (4, 3, 2)
    assert ev["agreement"] == 0.5
    temperatures = [request.temperature for _, request in env.backend.calls]
    assert temperatures[0] == 0.0 and all(t > 0 for t in temperatures[1:])

    # the most common body wins, even when the greedy answer is the odd one out
    answers.update({0: answers[2], 2: CLAMP})
    draft = env.implement(samples=4)
    assert _body(_after(draft, "inventory/pricing.py"), "clamp") == CLAMP_BODY
    assert draft.evidence["agreement"] == 0.5


def test_samples_stop_when_the_budget_does(make_env: Callable[..., Env]) -> None:
    probe = make_env(name="probe")
    probe.answer(CLAMP)
    per_call = probe.implement().evidence["tokens"]
    env = make_env(per_task=per_call * 2 + 5)  # two calls, and not quite a third
    env.answer(CLAMP)
    draft = env.implement(samples=4, task_id="capped")
    assert draft.evidence["samples"] == 2 and draft.evidence["samples_wanted"] == 4
    assert any(n.startswith("2 of 4 samples: the token budget is spent") for n in draft.notes)


# -- write_test ----------------------------------------------------------------------------


def test_write_test_appends_to_the_modules_test_file(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "```python\n"
        "import math\n"
        "from decimal import Decimal\n\n"
        "import pytest\n\n"
        "from inventory.stock import Item, restock\n\n\n"
        "def test_restock_adds_units():\n"
        '    assert restock(Item("a", Decimal("1"), 1), 2).quantity == 3\n\n\n'
        "def test_restock_of_zero_changes_nothing():\n"
        '    item = Item("a", Decimal("1"), 4)\n'
        "    assert restock(item, 0).quantity == 4\n"
        "    assert math.isfinite(4)\n"
        "```\n"
    )
    draft = model.write_test(
        env.service,
        env.sources,
        env.reader,
        env.conn,
        "inventory/stock.py",
        "inventory.stock.restock",
    )
    before = (env.root / "tests/test_stock.py").read_text(encoding="utf-8")
    change = draft.change.file("tests/test_stock.py")
    assert change is not None and change.before == before and len(draft.change.files) == 1
    after = _after(draft, "tests/test_stock.py")
    tree = ast.parse(after)
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert names == [
        "test_restock_adds_units",
        "test_restock_refuses_negative",
        "test_total_value_applies_tax_and_discount",
        "test_restock_adds_units_2",
        "test_restock_of_zero_changes_nothing",
    ]
    # the existing tests are untouched, the one new import is merged at the top
    assert after.startswith(
        "from decimal import Decimal\n\nimport pytest\n\n"
        "from inventory.stock import Item, restock, total_value\nimport math\n\n\n"
    )
    assert after.count("import") == 4
    assert draft.kind == "write_test" and draft.intent.added == ("test_stock.test_*",)
    assert draft.intent.changed == () and draft.intent.removed == ()
    assert draft.symbols == ("inventory.stock.restock",)
    assert draft.targets[0].path == "tests/test_stock.py"
    assert after.splitlines()[draft.targets[0].line] == "def test_restock_adds_units_2():"
    assert draft.evidence["renamed"] == {"test_restock_adds_units": "test_restock_adds_units_2"}
    assert any("renamed" in n for n in draft.notes)
    assert draft.prompt_hash == prompt("write_test").label
    assert "from inventory.stock import restock" in env.prompt_text()


def test_write_test_creates_a_test_file_when_there_is_none(
    make_env: Callable[..., Env],
) -> None:
    env = make_env()
    env.answer(
        "from pricing import clamp, TAX_RATE\n\n\n"  # a guessed module path
        f"{CLAMP}\n\n\ndef test_clamp_limits():\n    assert clamp(5, 0, 3) == 3\n\n\n"
        "def test_clamp_keeps_values_in_range():\n    assert clamp(2, 0, 3) == 2\n"
    )
    draft = model.write_test(
        env.service,
        env.sources,
        env.reader,
        env.conn,
        "inventory/pricing.py",
        "inventory.pricing.clamp",
    )
    (change,) = draft.change.files
    assert change.path == "tests/test_pricing.py" and change.created
    after = _after(draft, "tests/test_pricing.py")
    assert after.startswith(
        "from pricing import TAX_RATE\nfrom inventory.pricing import clamp\n\n\n"
        "def test_clamp_limits():"
    )
    assert any("imported clamp from inventory.pricing, not from pricing" in n for n in draft.notes)
    assert "return max" not in after  # the model's copy of clamp is dropped
    assert any("copy of clamp" in n for n in draft.notes)
    assert draft.intent.added == ("test_pricing.test_*",)
    assert draft.evidence["tests"] == [
        "test_pricing.test_clamp_limits",
        "test_pricing.test_clamp_keeps_values_in_range",
    ]
    assert draft.targets[0].line == 4


def test_write_test_finds_a_test_file_that_imports_the_module(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(
        files={"tests/test_money.py": "from inventory.pricing import with_tax\n\nX = 1\n"}
    )
    env.answer(
        "from inventory.pricing import discount\n\n\nX = 2\n\n\n"
        "def test_discount():\n    assert discount(X, 50) == 1\n"
    )
    draft = model.write_test(
        env.service,
        env.sources,
        env.reader,
        env.conn,
        "inventory/pricing.py",
        "inventory.pricing.discount",
    )
    after = _after(draft, "tests/test_money.py")
    assert after == (
        "from inventory.pricing import with_tax\n"
        "from inventory.pricing import discount\n\nX = 1\n\n\n"
        "X_2 = 2\n\n\ndef test_discount():\n    assert discount(X_2, 50) == 1\n"
    )
    assert set(draft.intent.added) == {"test_money.test_*", "test_money.X_2"}


def test_an_answer_without_tests_is_an_error(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer("def check_clamp():\n    assert clamp(1, 0, 2) == 1")
    with pytest.raises(EngineError, match=r"no test function .*check_clamp"):
        model.write_test(
            env.service,
            env.sources,
            env.reader,
            env.conn,
            "inventory/pricing.py",
            "inventory.pricing.clamp",
        )


# -- fix_test ------------------------------------------------------------------------------

FAILURE = """\
    def test_total_value_applies_tax_and_discount() -> None:
        items = [Item("bolt", Decimal("1.00"), 10)]
>       assert total_value(items, 50) == Decimal("6.00")
E       AssertionError: assert Decimal('5.000') == Decimal('6.00')
FAILED tests/test_stock.py::test_total_value_applies_tax_and_discount
"""


def test_fix_test_changes_only_the_failing_test(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "import math\n\n\n"
        "def test_total_value_applies_tax_and_discount(tmp_path) -> None:\n"
        '    items = [Item("bolt", Decimal("1.00"), 10)]\n'
        '    assert total_value(items, 50) == Decimal("5.000")\n'
        "    assert math.isfinite(1.0)\n"
    )
    node = "tests/test_stock.py::test_total_value_applies_tax_and_discount"
    draft = model.fix_test(
        env.service,
        env.sources,
        env.reader,
        env.conn,
        "tests/test_stock.py",
        "test_total_value_applies_tax_and_discount",
        node_id=node,
        failure_output=FAILURE,
    )
    before = (env.root / "tests/test_stock.py").read_text(encoding="utf-8")
    after = _after(draft, "tests/test_stock.py")
    name = "test_total_value_applies_tax_and_discount"
    assert "def test_total_value_applies_tax_and_discount() -> None:" in after  # signature
    assert 'Decimal("5.000")' in _body(after, name).replace("'", '"')
    for other in ("test_restock_adds_units", "test_restock_refuses_negative"):
        assert _body(after, other) == _body(before, other)
    assert after.count("import math\n") == 1
    qualname = "test_stock.test_total_value_applies_tax_and_discount"
    assert draft.intent.changed == draft.intent.keep_signature == (qualname,)
    assert draft.intent.added == draft.intent.removed == ()
    assert draft.kind == "fix_test" and "not the code under test" in draft.task
    assert draft.evidence["node_id"] == node
    text = env.prompt_text()
    assert "AssertionError: assert Decimal('5.000')" in text
    assert "return with_tax(discount(subtotal, percent))" in text  # the code it calls
    assert "test is" in text and "must not change" in text


def test_fix_test_that_changes_nothing_is_an_error(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "def test_restock_adds_units() -> None:\n"
        '    item = restock(Item("bolt", Decimal("0.50"), 2), 3)\n'
        "    assert item.quantity == 5\n"
    )
    with pytest.raises(EngineError, match="leaves test_restock_adds_units as it was"):
        model.fix_test(
            env.service,
            env.sources,
            env.reader,
            env.conn,
            "tests/test_stock.py",
            "test_stock.test_restock_adds_units",
            node_id="tests/test_stock.py::test_restock_adds_units",
            failure_output="boom",
        )


def test_a_fix_that_checks_less_is_noted(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "def test_restock_refuses_negative() -> None:\n"
        '    restock(Item("nut", Decimal("0.10")), 1)\n'
    )
    draft = model.fix_test(
        env.service,
        env.sources,
        env.reader,
        env.conn,
        "tests/test_stock.py",
        "test_stock.test_restock_refuses_negative",
        node_id="tests/test_stock.py::test_restock_refuses_negative",
        failure_output="Failed: DID NOT RAISE <class 'ValueError'>",
    )
    assert (draft.evidence["checks_before"], draft.evidence["checks_after"]) == (1, 0)
    assert any("checks less" in n for n in draft.notes)


def test_write_test_accepts_a_test_class(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.answer(
        "import pytest\n\n\nclass TestClamp:\n"
        "    @pytest.mark.parametrize('v', [1, 2])\n"
        "    def test_inside(self, v):\n        assert clamp(v, 0, 3) == v\n"
    )
    draft = model.write_test(
        env.service,
        env.sources,
        env.reader,
        env.conn,
        "inventory/pricing.py",
        "inventory.pricing.clamp",
    )
    after = _after(draft, "tests/test_pricing.py")
    assert after.startswith("import pytest\nfrom inventory.pricing import clamp\n\n\nclass")
    assert set(draft.intent.added) == {
        "test_pricing.test_*",
        "test_pricing.TestClamp",
        "test_pricing.TestClamp.*",
    }
    assert draft.evidence["tests"] == ["test_pricing.TestClamp"]


# -- context -------------------------------------------------------------------------------


def test_a_file_governance_refuses_never_enters_the_context(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(extra=VAULT_RULE, files={"inventory/vault.py": VAULT, ".env": "KEY=sk-env"})
    memory = Memory(env.conn, env.root)
    memory.sync()
    env.answer(CLAMP)
    draft = env.implement(memory=memory)  # reads are asked of governance by default
    text = env.prompt_text()
    assert "vault" not in text and "sk-very-secret" not in text and "guarded" not in text
    assert "inventory/vault.py" in draft.evidence["context"]["refused"]

    def allow(path: str) -> bool:
        return env.engine.explain(Action(kind="read", paths=(path,))).allowed

    ctx = build_context(
        env.conn,
        env.reader,
        env.sources,
        path="inventory/pricing.py",
        qualname="inventory.pricing.clamp",
        memory=memory,
        allow_read=allow,
    )
    assert "vault" not in ctx.code() and ctx.refused == ("inventory/vault.py",)
    # without the gate the same context would have had it
    open_ctx = build_context(
        env.conn,
        env.reader,
        env.sources,
        path="inventory/pricing.py",
        qualname="inventory.pricing.clamp",
        memory=memory,
    )
    assert "guarded_quantity" in open_ctx.code()
    # a refused target is an error, before any model call
    with pytest.raises(EngineError, match=r"does not allow inventory/vault\.py"):
        build_context(
            env.conn,
            env.reader,
            env.sources,
            path="inventory/vault.py",
            qualname="inventory.vault.guarded_quantity",
            allow_read=allow,
        )
    assert not allow(".env")  # the built-in secrets rule


def test_the_context_splits_its_budget_and_records_what_went_in(
    make_env: Callable[..., Env],
) -> None:
    env = make_env()
    memory = Memory(env.conn, env.root)
    memory.sync()
    memory.records.remember("prices are Decimal, never float", scope="inventory/pricing.py")
    memory.records.remember("quantities are never negative")
    buffer = (env.root / "inventory/stock.py").read_text(encoding="utf-8") + (
        "\n\ndef priced(items: list[Item]) -> Decimal:\n    return with_tax(total_value(items))\n"
    )
    sources = DiskSources(env.root, {"inventory/stock.py": (buffer, 3)})
    ctx = build_context(
        env.conn,
        env.reader,
        sources,
        path="inventory/stock.py",
        qualname="inventory.stock.priced",  # only in the open buffer
        memory=memory,
    )
    assert "def priced" in ctx.source and ctx.line == 32

    ctx = build_context(
        env.conn,
        env.reader,
        env.sources,
        path="inventory/stock.py",
        qualname="inventory.stock.total_value",
        memory=memory,
        max_tokens=1500,
    )
    record = ctx.record()
    parts = record["parts"]
    assert set(parts) == {"target", "notes", "imports", "class", "related", "recalled", "repo_map"}
    assert record["tokens"] <= 1500
    assert parts["related"]["items"] == [  # what it calls, then what calls it
        "inventory.stock.Item.value",
        "inventory.pricing.with_tax",
        "inventory.pricing.discount",
        "inventory.report.summary",
        "test_stock.test_total_value_applies_tax_and_discount",
    ]
    assert "Return ``amount`` with tax added." in ctx.code()
    assert "inventory.stock.total_value" not in parts["recalled"]["items"]  # not itself
    assert parts["recalled"]["items"]
    assert parts["repo_map"]["tokens"] > 0
    assert ctx.notes() == "(none)"  # neither note applies to stock.total_value

    pricing = build_context(
        env.conn,
        env.reader,
        env.sources,
        path="inventory/pricing.py",
        qualname="inventory.pricing.with_tax",
        memory=memory,
    )
    assert pricing.notes() == "- prices are Decimal, never float"

    small = build_context(
        env.conn,
        env.reader,
        env.sources,
        path="inventory/stock.py",
        qualname="inventory.stock.total_value",
        memory=memory,
        max_tokens=120,
    )
    assert small.record()["tokens"] <= 120
    dropped = [d for p in small.record()["parts"].values() for d in p["dropped"]]
    assert any(d.endswith("(budget)") for d in dropped)
    assert small.part("target") is not None and "def total_value" in small.source
