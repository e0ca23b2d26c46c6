"""Plans in the editor: ``hexad.plan`` makes and validates one, ``hexad.plan.run`` runs it
step by step (each edit applied through ``workspace/applyEdit``, so the editor confirms
what governance wants reviewed), ``hexad.plan.cancel`` stops it; progress goes out as
``hexad/planProgress`` notifications and the plan as markdown and data."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from hexad.core.errors import HexadError
from hexad.execution.edits import file_inside
from hexad.execution.proposals import NothingToChange
from hexad.inference.base import CancelToken
from hexad.lsp import proposals
from hexad.lsp.plans import (
    Planned,
    ServiceExecutor,
    make_plan,
    make_replanner,
    max_replans,
    tests_each_step,
)
from hexad.lsp.server import REQUEST_ID, HexadServer
from hexad.memory.records import Records
from hexad.planning.intents import Intent
from hexad.planning.plan import Plan, Step
from hexad.planning.planners import PlanningError
from hexad.planning.runner import PlanRunner, StepResult
from hexad.planning.validate import Validation, validate

log = logging.getLogger(__name__)
APPLY_TIMEOUT = 600.0  # a person may take a while to confirm an edit


class EditorExecutor(ServiceExecutor):
    """Steps applied through the editor: accept → workspace/applyEdit → the client's
    answer; the index then catches up with the buffers the client changed."""

    def __init__(self, ls: HexadServer) -> None:
        service = proposals.service(ls)
        assert ls.live is not None
        live = ls.live

        def refresh() -> None:
            live.refresh().result(timeout=APPLY_TIMEOUT)

        super().__init__(service, live.reader, refresh, file_exists=lambda p: _exists(ls, p))
        self.ls = ls

    def run(self, plan: Plan, step: Step) -> StepResult:
        if step.kind == "run_tests":
            return self._tests(step)
        try:
            proposal = proposals.propose(self.ls, step.action, run_tests=tests_each_step(plan))
        except NothingToChange as exc:
            return StepResult(True, f"nothing to change: {exc}")
        except HexadError as exc:
            return StepResult(False, str(exc))
        if not proposal.report.passed:
            failed = "; ".join(c.summary for c in proposal.report.failures)
            return StepResult(False, f"verification failed: {failed}", proposal.id, True)
        loop = self.ls.loop
        assert loop is not None
        try:
            answer = asyncio.run_coroutine_threadsafe(
                proposals.accept(self.ls, proposal.id), loop
            ).result(timeout=APPLY_TIMEOUT)
        except HexadError as exc:
            return StepResult(False, str(exc), proposal.id)
        if not answer.get("applied"):
            why = answer.get("failureReason") or "the editor did not apply it"
            return StepResult(False, f"not applied: {why}", proposal.id)
        self.refresh()
        return StepResult(True, proposal.summary(), proposal.id)


def _exists(ls: HexadServer, path: str) -> bool:
    if ls.root is None:
        return False
    if ls.live is not None and path in ls.live.docs:
        return True
    return file_inside(ls.root, path)


def _validator(ls: HexadServer) -> Any:
    service = proposals.service(ls)
    assert ls.live is not None
    live = ls.live
    return lambda plan: validate(
        plan, live.reader(), service.engine, file_exists=lambda p: _exists(ls, p)
    )


def _runner(ls: HexadServer, run_id: str | None = None) -> PlanRunner:
    service = proposals.service(ls)

    def progress(plan: Plan, step: Step) -> None:  # from the runner's thread
        ls.call_soon(
            ls.protocol.notify,
            "hexad/planProgress",
            {
                "run": run_id,
                "step": step.id,
                "of": len(plan.steps),
                "title": step.title,
                "status": step.status,
                "detail": step.detail,
                "proposal": step.proposal,
            },
        )

    executor = EditorExecutor(ls)
    assert ls.live is not None
    return PlanRunner(
        Records(service.conn),
        executor,
        _validator(ls),
        replanner=make_replanner(service, ls.live.reader, executor, text_of=ls.live.text),
        max_replans=max_replans(service.engine),
        on_progress=progress,
    )


INTENT_KEYS = {
    "signature": "signature",
    "addParameter": "add_parameter",
    "move": "move",
    "renameModule": "rename_module",
    "split": "split_module",
}


def intent_from(opts: dict[str, Any]) -> Intent:
    """``hexad.plan``'s argument as an intent: ``intent: {kind, …}``, one of the
    shorthands (``signature``, ``addParameter``, ``move``, ``renameModule``, ``split``:
    an object of the intent's fields), or a ``task`` alone (free-form)."""
    task = opts.get("task") if isinstance(opts.get("task"), str) else None
    raw = opts.get("intent")
    if raw is None:
        given = [k for k in INTENT_KEYS if isinstance(opts.get(k), dict)]
        if len(given) > 1:
            raise PlanningError(f"give one intent, not {' and '.join(given)}")
        if given:
            raw = {**opts[given[0]], "kind": INTENT_KEYS[given[0]]}
        elif task and task.strip():
            raw = {"kind": "task", "text": task}
        else:
            raise PlanningError(
                "give the task as text ({task: '…'}) or an intent ({intent: {kind, …}}: "
                "signature, add_parameter, move, rename_module, split_module)"
            )
    if not isinstance(raw, dict):
        raise PlanningError("intent must be an object with a kind")
    if task and raw.get("kind") != "task" and "title" not in raw:
        raw = {**raw, "title": task}
    return Intent.parse(_snake(raw))


def _snake(raw: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in raw.items():
        out["".join(f"_{c.lower()}" if c.isupper() else c for c in key)] = value
    return out


def _plan_from(ls: HexadServer, opts: dict[str, Any], cancel: CancelToken | None) -> Planned:
    assert ls.live is not None
    live = ls.live
    try:
        intent = intent_from(opts)
        if intent.kind == "task":
            focus = opts.get("focus")
            if isinstance(focus, dict) and isinstance(focus.get("path"), str):
                intent = intent.model_copy(update={"text": _with_focus(intent, focus)})
        return make_plan(
            intent,
            proposals.service(ls),
            live.reader(),
            file_exists=lambda p: _exists(ls, p),
            text_of=live.text,
            cancel=cancel,
        )
    except PlanningError as exc:
        raise JsonRpcInvalidParams(f"hexad.plan: {exc}") from exc


def _with_focus(intent: Intent, focus: dict[str, Any]) -> str:
    """The task, with where the user asked for it (a model planner reads it)."""
    line = focus.get("line")
    where = f"{focus['path']}" + (f", line {line + 1}" if isinstance(line, int) else "")
    return f"{intent.text}\n\n(asked in {where})"


def _answer(run_id: str, plan: Plan, validation: Validation | None, status: str) -> dict[str, Any]:
    return {
        "run": run_id,
        "status": status,
        "plan": plan.to_json(),
        "markdown": plan.markdown(),
        "validation": validation.to_json() if validation is not None else None,
    }


async def plan_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.plan`` [{task?, signature?: {symbol, params, values?}, addParameter?:
    {symbol, name, default, thread?}}]: make, validate and store a plan; nothing runs."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams("hexad.plan: expects one object argument")
    opts = args[0]
    request_id = REQUEST_ID.get()
    cancel = CancelToken()
    if request_id is not None:
        ls.cancel_tokens[request_id] = cancel

    def work() -> dict[str, Any]:
        planned = _plan_from(ls, opts, cancel)
        model = planned.model.to_json() if planned.model is not None else None
        if planned.plan is None:
            return {
                "run": None,
                "status": "refused",
                "refused": planned.refused,
                "model": model,
                "markdown": f"# No plan\n\n{planned.refused}\n",
            }
        run_id, validation = _runner(ls, None).start(planned.plan)
        answer = _answer(
            run_id, planned.plan, validation, "approved" if validation.ok else "invalid"
        )
        answer["model"] = model
        return answer

    try:
        return await asyncio.to_thread(work)
    finally:
        if request_id is not None:
            ls.cancel_tokens.pop(request_id, None)


_RUNNING: dict[str, PlanRunner] = {}
_LOCK = threading.Lock()


async def plan_run_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.plan.run`` [{run}]: run a stored plan (approving it); answers when it ends."""
    run_id = args[0].get("run") if len(args) == 1 and isinstance(args[0], dict) else None
    if not isinstance(run_id, str):
        raise JsonRpcInvalidParams("hexad.plan.run: expects {run: <plan run id>}")

    def work() -> dict[str, Any]:
        # the run answers when it ends; what its steps change is progress, published as
        # it happens, not held for that answer (see HexadServer.after_answer)
        REQUEST_ID.set(None)  # this thread's copy of the context only
        runner = _runner(ls, run_id)
        with _LOCK:
            if run_id in _RUNNING:
                raise JsonRpcInvalidParams(f"hexad.plan.run: plan {run_id} is already running")
            _RUNNING[run_id] = runner
        try:
            plan = runner.run(run_id)
        except (KeyError, ValueError) as exc:
            raise JsonRpcInvalidParams(f"hexad.plan.run: {exc}") from exc
        finally:
            with _LOCK:
                _RUNNING.pop(run_id, None)
        stored = runner.records.plan_run(run_id)
        return _answer(run_id, plan, None, stored["status"] if stored else "?")

    return await asyncio.to_thread(work)


def plan_cancel_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.plan.cancel`` [{run}]: stop a running plan after its current step."""
    run_id = args[0].get("run") if len(args) == 1 and isinstance(args[0], dict) else None
    with _LOCK:
        runner = _RUNNING.get(run_id) if isinstance(run_id, str) else None
    if runner is None:
        raise JsonRpcInvalidParams(f"hexad.plan.cancel: no running plan {run_id}")
    runner.cancelled = True
    return {"run": run_id, "cancelling": True}


PLANS_LISTED = 20


def plan_entry(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored plan run as clients list it: the plan's steps with their status."""
    data = stored["plan"]
    plan = Plan.model_validate(data["plan"])
    return {
        "run": stored["id"],
        "task": stored["task"],
        "status": stored["status"],
        "created": stored["created"],
        "updated": stored["updated"],
        "planner": plan.planner,
        "replans": plan.replans,
        "outcome": data.get("outcome"),
        "steps": [
            {
                "id": s.id,
                "title": s.title,
                "kind": s.kind,
                "status": s.status,
                "detail": s.detail,
                "proposal": s.proposal,
                "dependsOn": s.depends_on,
            }
            for s in plan.steps
        ],
        "markdown": plan.markdown(),
        "running": stored["id"] in _RUNNING,
    }


async def plans_command(ls: HexadServer, *args: Any) -> list[dict[str, Any]]:
    """``hexad.plans`` [{limit?}]: the newest plan runs, with their steps and status."""
    opts = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
    limit = opts.get("limit", PLANS_LISTED)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
        raise JsonRpcInvalidParams("hexad.plans: limit must be an integer from 1 to 500")

    def work() -> list[dict[str, Any]]:
        runs = Records(proposals.service(ls).conn).recent_plan_runs(limit)
        return [plan_entry(r) for r in runs]

    return await asyncio.to_thread(work)


def announce_interrupted(ls: HexadServer) -> None:
    """Plans a previous server left running are paused, and the user is told how to go
    on with each (their state is in memory, step by step)."""
    if ls.root is None:
        return

    def work() -> None:
        try:
            records = Records(proposals.service(ls).conn)
            runs = records.unfinished_plan_runs()
        except (HexadError, OSError) as exc:
            log.warning("cannot look for interrupted plans: %s", exc)
            return
        for stored in runs:
            if stored["status"] != "running" or stored["id"] in _RUNNING:
                continue
            records.set_plan_status(stored["id"], "paused")
            entry = plan_entry(stored)
            finished = sum(1 for s in entry["steps"] if s["status"] == "done")
            message = (
                f"Hexad: the plan “{entry['task']}” stopped after {finished} of "
                f"{len(entry['steps'])} steps when the server last stopped; run "
                f"hexad.plan.run with {{run: '{entry['run']}'}} to go on from there."
            )
            ls.call_soon(
                ls.window_show_message,
                types.ShowMessageParams(types.MessageType.Info, message),
            )

    threading.Thread(target=work, name="hexad-plans", daemon=True).start()
