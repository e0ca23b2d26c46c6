"""Plans from a model: a free-form task becomes a validated :class:`Plan`, or a refusal
that says why.

The ``plan`` prompt gets the repository map (focused on the files the task is about, and
without the files governance refuses to read) and the caller's notes; its JSON schema
constrains the answer to steps in the proposal vocabulary (``rename``, ``signature``,
``implement``, …, with the arguments a proposal request takes). The model is the one
governance routes the ``plan`` task to, through the model service, which decides and
charges the call; no route, no model or a spent budget is a refusal with its reason.

An answer is parsed and checked with pydantic (constrained decoding should guarantee the
shape; an OpenAI-compatible server may not honour the schema, and a cut-off answer is not
JSON), turned into a plan, and checked: each step has the arguments its kind needs, no
step touches a path governance would not let it edit (outside the workspace, protected:
``.git/``, ``.env``, …), and :func:`validate` accepts it (symbols and files exist or an
earlier step creates them, the dependencies are in order, governance and the budgets
allow every step). When something is wrong the same conversation goes back to the model
with the problems listed, at most ``max_attempts`` times in all; a plan still invalid is
refused with the problems named. An invalid plan is never returned.

The repository map and the notes are data, not instructions: whatever they say, the plan
that comes back has passed the same checks as any other.

Planning does not import execution (the layers are siblings), so the model service is
reached through the :class:`PlanModels` protocol, and the proposal kinds and argument
names are repeated here (a unit test holds them to ``ProposalRequest``).
"""

from __future__ import annotations

import json
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hexad.core.db import Connection
from hexad.governance import Action, Engine
from hexad.governance.engine import OUTSIDE_RULE
from hexad.inference.base import CancelToken, ChatMessage, Generation, GenerationRequest
from hexad.inference.prompts import PromptTemplate, prompt
from hexad.perception.index import IndexReader
from hexad.perception.repomap import build_repo_map
from hexad.planning.plan import Plan, Step
from hexad.planning.validate import MODEL_KINDS, PlanIssue, Validation, validate

PLAN_TASK = "plan"  # the task kind governance routes
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAP_TOKENS = 1200
MAX_STEPS = 12
MAX_LIST = 8  # paths a step limits itself to, names it creates
EXCERPT_CHARS = 400  # of each answer, kept with its attempt
REFUSAL_ERRORS = 6  # problems quoted in a refusal
CUT_HINT = "the answer was cut off at the token limit: plan fewer steps, with short titles"
DEFAULT_RETRY = """
Your plan has these problems:
$problems

Answer with a corrected plan, the whole plan, in JSON following the schema.
"""

# The proposal request vocabulary (execution.proposals.ProposalRequest): the kinds, and the
# arguments a step may give its action.
ActionKind = Literal[
    "rename",
    "extract_variable",
    "extract_function",
    "inline",
    "add_import",
    "signature",
    "ripple",
    "move",
    "rename_module",
    "implement",
    "write_test",
    "fix_test",
]
ACTION_ARGS = (
    "symbol",
    "path",
    "line",
    "col",
    "end_line",
    "end_col",
    "new_name",
    "params",
    "old_params",
    "values",
    "only_paths",
    "target",
    "reexport",
    "together",
    "new_path",
    "name",
    "module",
    "test",
)
# What each kind needs, as alternatives (a symbol, or a position): ProposalService.draft.
NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "rename": (("symbol", "new_name"), ("path", "line", "col", "new_name")),
    "extract_variable": (("path", "line", "col", "end_line", "end_col", "new_name"),),
    "extract_function": (("path", "line", "col", "end_line", "end_col", "new_name"),),
    "inline": (("path", "line", "col"),),
    "add_import": (("path", "name"),),
    "signature": (("symbol", "params"), ("path", "line", "col", "params")),
    "ripple": (("symbol", "params", "old_params"), ("path", "line", "col", "params", "old_params")),
    "move": (("symbol", "target"),),
    "rename_module": (("path", "new_path"),),
    "implement": (("symbol",), ("path", "line", "col")),
    "write_test": (("symbol",), ("path", "line", "col")),
    "fix_test": (("test",),),
}
TASK_OF_KIND = {"ripple": "signature"}  # the governance task of a kind, where it differs


# -- the model, as planning sees it --------------------------------------------------------


class ModelAnswer(Protocol):
    """A model call's outcome: a generation, or why there is none."""

    @property
    def generation(self) -> Generation | None: ...

    @property
    def unavailable(self) -> str | None: ...


class PlanModels(Protocol):
    """The governed model service (``execution.models.ModelService``)."""

    def generate(
        self,
        task: str,
        request: GenerationRequest,
        *,
        task_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> ModelAnswer: ...


# -- the answer's shape (the prompt's schema) ----------------------------------------------


class AnswerStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    title: str = ""
    kind: ActionKind
    why: str = ""
    depends_on: list[int] = Field(default_factory=list, max_length=MAX_STEPS - 1)
    symbol: str | None = None
    path: str | None = None
    line: int | None = Field(default=None, ge=0)
    col: int | None = Field(default=None, ge=0)
    end_line: int | None = Field(default=None, ge=0)
    end_col: int | None = Field(default=None, ge=0)
    new_name: str | None = None
    params: str | None = None
    old_params: str | None = None
    values: dict[str, str] | None = None
    only_paths: list[str] | None = Field(default=None, max_length=MAX_LIST)
    target: str | None = None
    reexport: bool | None = None
    together: list[str] | None = Field(default=None, max_length=MAX_LIST)
    new_path: str | None = None
    name: str | None = None
    module: str | None = None
    test: str | None = None
    creates: list[str] = Field(default_factory=list, max_length=MAX_LIST)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = ""
    steps: list[AnswerStep] = Field(min_length=1, max_length=MAX_STEPS)


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanAttempt:
    """One answer of the model and what was wrong with it (nothing: it was accepted)."""

    answer: str  # an excerpt of the answer's text
    errors: tuple[str, ...]
    hints: tuple[str, ...] = ()  # sent back with the errors: names the model may have meant
    tokens: int = 0
    finish_reason: str = "stop"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "errors": list(self.errors),
            "hints": list(self.hints),
            "tokens": self.tokens,
            "finishReason": self.finish_reason,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ModelPlanResult:
    """A valid plan (``refused`` is None), or no plan and why (``plan`` is None)."""

    plan: Plan | None
    attempts: list[PlanAttempt] = field(default_factory=list)
    refused: str | None = None
    tokens: int = 0  # model tokens spent, prompt and answer, over every attempt
    validation: Validation | None = None  # the accepted plan's: approvals needed, estimate
    map_refused: tuple[str, ...] = ()  # files left out of the map: governance refuses reads

    @property
    def ok(self) -> bool:
        return self.plan is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "plan": self.plan.to_json() if self.plan is not None else None,
            "refused": self.refused,
            "attempts": [a.to_json() for a in self.attempts],
            "tokens": self.tokens,
            "validation": self.validation.to_json() if self.validation is not None else None,
            "mapRefused": list(self.map_refused),
        }


# -- planning ------------------------------------------------------------------------------


def plan_with_model(
    models: PlanModels,
    conn: Connection,
    reader: IndexReader,
    engine: Engine,
    task_text: str,
    *,
    file_exists: Callable[[str], bool],
    notes: Sequence[str] = (),
    focus_paths: Sequence[str] = (),
    task_id: str | None = None,
    cancel: CancelToken | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    map_tokens: int = DEFAULT_MAP_TOKENS,
    max_tokens: int | None = None,
    template: PromptTemplate | None = None,
) -> ModelPlanResult:
    """Ask the model routed for ``plan`` to plan ``task_text``; return the plan once it
    validates, or a refusal after ``max_attempts`` answers (or as soon as no model can
    answer). ``max_tokens`` caps each answer (default: the prompt's); ``template``
    replaces the packaged ``plan`` prompt (same placeholders)."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if not task_text.strip():
        raise ValueError("there is no task to plan")
    template = template or prompt(PLAN_TASK)
    repo_map, map_refused = _repo_map(conn, engine, map_tokens, focus_paths, task_id)
    request = template.render(
        max_tokens=max_tokens,
        repo_map=repo_map or "(empty: nothing indexed, or nothing governance lets a model read)",
        notes="\n".join(f"- {n}" for n in notes if n.strip()) or "(none)",
        task=task_text.strip(),
    )
    result = ModelPlanResult(None, map_refused=map_refused)
    for number in range(1, max_attempts + 1):
        if cancel is not None and cancel.cancelled:
            result.refused = "planning was cancelled"
            return result
        call = models.generate(PLAN_TASK, request, task_id=task_id, cancel=cancel)
        generation = call.generation
        if generation is None:
            why = call.unavailable or "the model gave no answer"
            result.refused = f"no model can plan this: {why}"
            return result
        result.tokens += generation.total_tokens
        if generation.finish_reason == "cancelled":
            result.attempts.append(_attempt(generation, ("the answer was cancelled",)))
            result.refused = "planning was cancelled"
            return result
        plan, validation, errors, hints = _check(
            generation, task_text.strip(), reader, engine, file_exists, task_id
        )
        result.attempts.append(_attempt(generation, errors, hints))
        if plan is not None and validation is not None and not errors:
            result.plan, result.validation = plan, validation
            return result
        if number < max_attempts:
            request = _retry(request, template, generation.text, errors, hints)
    last = result.attempts[-1].errors
    more = f" (and {len(last) - REFUSAL_ERRORS} more)" if len(last) > REFUSAL_ERRORS else ""
    result.refused = (
        f"the model gave no valid plan in {max_attempts} attempt"
        f"{'s' if max_attempts != 1 else ''}; the last answer's problems: "
        + "; ".join(last[:REFUSAL_ERRORS])
        + more
    )
    return result


def _repo_map(
    conn: Connection,
    engine: Engine,
    tokens: int,
    focus: Sequence[str],
    task_id: str | None,
) -> tuple[str, tuple[str, ...]]:
    """The map's text without the files governance refuses to put in a model's context,
    and those files."""
    if tokens <= 0:
        return "", ()
    text = build_repo_map(conn, max_tokens=tokens, focus_files=list(focus)).text
    kept: list[str] = []
    refused: list[str] = []
    for path, section in _map_sections(text):
        read = Action(kind="read", task=PLAN_TASK, task_id=task_id, paths=(path,))
        if engine.explain(read).allowed:
            kept.append(section)
        else:
            refused.append(path)
    return "".join(kept).rstrip(), tuple(refused)


def _map_sections(text: str) -> list[tuple[str, str]]:
    """The repository map split by file: (path, the section's lines)."""
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if bare and not bare.startswith(("│", "⋮")) and bare.endswith(":"):
            sections.append((bare[:-1], [line]))
        elif sections:
            sections[-1][1].append(line)
    return [(path, "".join(lines)) for path, lines in sections]


def _attempt(
    generation: Generation, errors: Iterable[str], hints: Iterable[str] = ()
) -> PlanAttempt:
    text = generation.text
    excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"
    return PlanAttempt(
        answer=excerpt,
        errors=tuple(errors),
        hints=tuple(hints),
        tokens=generation.total_tokens,
        finish_reason=generation.finish_reason,
        seconds=generation.seconds,
    )


def _retry(
    request: GenerationRequest,
    template: PromptTemplate,
    answer: str,
    errors: Sequence[str],
    hints: Sequence[str],
) -> GenerationRequest:
    """The same conversation, the answer, and the problems found in it."""
    problems = "\n".join([*(f"- {e}" for e in errors), *(f"- hint: {h}" for h in hints)])
    text = string.Template(_retry_text(template)).safe_substitute(problems=problems).strip()
    messages = (*request.messages, ChatMessage("assistant", answer), ChatMessage("user", text))
    return replace(request, messages=messages)


def _retry_text(template: PromptTemplate) -> str:
    """The template's ``retry`` text (the same file, so its hash covers it)."""
    try:
        doc = tomllib.loads(template.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return DEFAULT_RETRY
    text = doc.get("retry")
    return text if isinstance(text, str) and "$problems" in text else DEFAULT_RETRY


# -- checking an answer --------------------------------------------------------------------


def _check(
    generation: Generation,
    task: str,
    reader: IndexReader,
    engine: Engine,
    file_exists: Callable[[str], bool],
    task_id: str | None,
) -> tuple[Plan | None, Validation | None, tuple[str, ...], tuple[str, ...]]:
    """(plan, its validation, errors, hints); the plan counts only without errors."""
    value, problem = _parsed(generation)
    if problem is not None:
        cut = generation.finish_reason in ("length", "budget")
        return None, None, (problem,), (CUT_HINT,) if cut else ()
    try:
        answer = Answer.model_validate(value)
    except ValidationError as exc:
        return None, None, _pydantic_errors(exc), ()
    try:
        plan = to_plan(answer, task)
    except ValidationError as exc:
        return None, None, _pydantic_errors(exc), ()
    issues = [*_action_issues(plan), *_path_issues(plan, engine, task_id)]
    validation = validate(plan, reader, engine, file_exists=file_exists, task_id=task_id)
    errors = tuple(dict.fromkeys(str(i) for i in [*issues, *validation.errors]))
    hints = tuple(_symbol_hints(plan, reader)) if errors else ()
    return plan, validation, errors, hints


def _parsed(generation: Generation) -> tuple[Any, str | None]:
    """The answer's JSON value, or why there is none."""
    if generation.parsed is not None:
        return generation.parsed, None
    cut = {"length": ", cut by max_tokens", "budget": ", cut by the token budget"}.get(
        generation.finish_reason, ""
    )
    try:
        return json.loads(generation.text), None
    except ValueError as exc:
        why = generation.extra.get("json_error")
        if isinstance(why, str) and why:
            return None, f"the answer is not a plan: {why}"
        return None, f"the answer is not valid JSON ({exc}){cut}"


def _pydantic_errors(exc: ValidationError) -> tuple[str, ...]:
    out = []
    for error in exc.errors()[:8]:
        where = ".".join(str(p) for p in error["loc"]) or "the answer"
        out.append(f"{where}: {error['msg']}")
    return tuple(out)


def to_plan(answer: Answer, task: str) -> Plan:
    """The answer as a plan (``planner="model"``): each step's arguments become its
    action, empty ones dropped; a rename, a move or a module's rename creates the new
    name (or file) and removes the old one, so later steps may name what it made."""
    steps = []
    for s in answer.steps:
        action: dict[str, Any] = {"kind": s.kind}
        for name in ACTION_ARGS:
            value = _clean(getattr(s, name))
            if value is not None:
                action[name] = value
        creates = [c.strip() for c in s.creates if c.strip()]
        removes: list[str] = []
        for old, new in _moves(action):
            if old != new:
                creates.append(new)
                removes.append(old)
        target = action.get("symbol") or action.get("path") or action.get("test") or ""
        steps.append(
            Step(
                id=s.id,
                title=s.title.strip() or f"{s.kind.replace('_', ' ')} {target}".strip(),
                action=action,
                depends_on=list(dict.fromkeys(s.depends_on)),
                creates=list(dict.fromkeys(creates)),
                removes=removes,
                why=s.why.strip(),
            )
        )
    return Plan(task=task, planner="model", summary=answer.summary.strip(), steps=steps)


def _moves(action: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(old, new) names of what a rename, move or module rename takes away and brings."""
    kind, symbol = action["kind"], action.get("symbol")
    if kind == "rename_module":
        path, new_path = action.get("path"), action.get("new_path")
        return [(path, new_path)] if isinstance(path, str) and isinstance(new_path, str) else []
    if not isinstance(symbol, str):
        return []
    head, dot, short = symbol.rpartition(".")
    new_name, target = action.get("new_name"), action.get("target")
    if kind == "rename" and isinstance(new_name, str):
        return [(symbol, f"{head}{dot}{new_name}")]
    if kind == "move" and isinstance(target, str) and target.endswith(".py") and dot:
        module = target.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        together = action.get("together")
        names = [short, *(together if isinstance(together, list) else [])]
        return [(f"{head}.{n}", f"{module}.{n}") for n in dict.fromkeys(names)]
    return []


def _clean(value: object) -> object:
    """None for an empty argument; strings stripped, empty entries of lists dropped."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        items = [v.strip() for v in value if isinstance(v, str) and v.strip()]
        return items or None
    if isinstance(value, Mapping):
        return dict(value) or None
    return value


def _action_issues(plan: Plan) -> Iterable[PlanIssue]:
    """Steps without the arguments their kind needs (the proposal would refuse them)."""
    for step in plan.steps:
        options = NEEDS.get(step.kind)
        if options is None:
            yield PlanIssue(step.id, f"{step.kind!r} is not an action")
            continue
        missing = min(([a for a in option if a not in step.action] for option in options), key=len)
        if missing:
            article = "an" if step.kind[0] in "aeiou" else "a"
            yield PlanIssue(step.id, f"{article} {step.kind} step needs {', '.join(missing)}")


def step_paths(step: Step) -> list[str]:
    """Every workspace path a step names: its file, the files it limits itself to, where
    it moves code to, a test's file, files it creates or removes, and files its
    conditions name."""
    found: list[str] = []
    path = step.action.get("path")
    if isinstance(path, str):
        found.append(path)
    only = step.action.get("only_paths")
    if isinstance(only, list):
        found += [p for p in only if isinstance(p, str)]
    for name in ("target", "new_path"):  # where a move or a module's rename writes
        value = step.action.get(name)
        if isinstance(value, str):
            found.append(value)
    test = step.action.get("test")
    if isinstance(test, str):
        found.append(test.split("::", 1)[0])
    found += [n for n in (*step.creates, *step.removes) if "/" in n or n.endswith(".py")]
    found += [
        c.target
        for c in (*step.preconditions, *step.postconditions)
        if c.kind in ("file_exists", "file_absent")
    ]
    return [p for p in dict.fromkeys(found) if p]


def _path_issues(plan: Plan, engine: Engine, task_id: str | None) -> Iterable[PlanIssue]:
    """Paths a step would touch that governance does not let anything edit: outside the
    workspace, protected, or denied by a rule (budgets aside: they change by the minute)."""
    for step in plan.steps:
        checked_by_validate = step.action.get("path")
        for path in step_paths(step):
            decision = engine.explain(
                Action(
                    kind="edit",
                    engine="model" if step.kind in MODEL_KINDS else "structural",
                    task=TASK_OF_KIND.get(step.kind, step.kind),
                    task_id=task_id,
                    paths=(path,),
                )
            )
            denied = [
                r.why
                for r in decision.reasons
                if r.effect == "deny"
                and not r.rule.startswith("budget:")
                and not (r.rule == OUTSIDE_RULE and path == checked_by_validate)
            ]
            if denied:
                yield PlanIssue(step.id, f"would touch {path}, which it may not: {denied[0]}")


def _symbol_hints(plan: Plan, reader: IndexReader) -> Iterable[str]:
    """For a symbol argument that is not a qualified name in the index, the names it may
    have meant."""
    seen: set[str] = set()
    for step in plan.steps:
        symbol = step.action.get("symbol")
        if not isinstance(symbol, str) or symbol in seen:
            continue
        seen.add(symbol)
        found = reader.lookup(symbol.rsplit(".", 1)[-1])
        if any(s.qualname == symbol for s in found):
            continue
        names = sorted({s.qualname for s in found})[:3]
        if names:
            meant = " or ".join(names)
            yield f"{symbol} is not a qualified name in the index; did you mean {meant}?"
