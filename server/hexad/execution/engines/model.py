"""Model-backed engines: implement a stub, write a test, fix a failing test.

Each builds a context (:mod:`hexad.execution.context`), renders its packaged prompt, asks
the model through :class:`~hexad.execution.models.ModelService` (governance routes the task
and reserves its tokens; a call that cannot run is an :class:`EngineError` carrying the
reason), and turns the answer into a whole-file :class:`Change`. Answers are read
defensively: markdown fences and prose around the code are dropped, the definition of the
right name is found with :mod:`ast`, and only what the engine allows the model to supply is
taken from it — the body of a stub, new test functions, the body of one test. The
signature and docstring stay the workspace's own.

An answer that is not Python, or lacks the definition asked for, is an error (with an
excerpt of what the model said); an answer that parses but may be wrong is a Draft:
verification judges it.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import posixpath
import re
import textwrap
import tokenize
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hexad.core.db import Connection
from hexad.execution.context import (
    AllowRead,
    Definition,
    PromptContext,
    build_context,
    definition_start,
    file_module,
    find_definition,
    parse_python,
)
from hexad.execution.edits import Change, EditError, FileChange
from hexad.execution.engines.base import Draft, EngineError, Intent, Sources, Target
from hexad.execution.models import ModelService
from hexad.governance import Action
from hexad.inference.base import CancelToken, Generation, GenerationRequest, Progress
from hexad.inference.prompts import PromptTemplate, prompt
from hexad.memory.service import Memory
from hexad.perception.index import IndexReader
from hexad.perception.modules import module_name

ENGINE = "model"
EXCERPT_CHARS = 240
SAMPLE_TEMPERATURE = 0.7  # samples after the first (greedy) one, for self-consistency
FAILURE_CHARS = 4000  # the tail of a test's output that goes into the prompt
MAX_PARSE_LINES = 400
MAX_STARTS = 4
_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*$", re.MULTILINE)
_CODE_START = ("def ", "async def ", "@", "class ", "import ", "from ")
_BLOCK_HEADER = re.compile(
    r"^\s*(async\s+)?(def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b"
    r".*:\s*(#.*)?$"
)


# -- the engines ----------------------------------------------------------------------------


def implement(
    service: ModelService,
    sources: Sources,
    reader: IndexReader,
    conn: Connection,
    path: str,
    qualname: str,
    *,
    memory: Memory | None = None,
    task_id: str | None = None,
    cancel: CancelToken | None = None,
    samples: int = 1,
    allow_read: AllowRead | None = None,
    max_tokens: int | None = None,
    context_tokens: int = 1500,
    on_progress: Progress | None = None,
    template: PromptTemplate | None = None,
) -> Draft:
    """Write the body of the stub ``qualname`` in ``path``. With ``samples`` > 1 the model
    answers that many times (the first greedy, the rest sampled); the most common body
    wins and the share of samples that agree with it is recorded as ``agreement``.

    Common to the three engines: ``allow_read`` decides which files may enter the context
    (default: governance's answer for a ``read`` action); ``max_tokens`` caps the answer
    (default: the template's); ``context_tokens`` is the context's budget; ``template``
    replaces the packaged prompt (prompt experiments; it gets the same values)."""
    _require_python(path)
    if samples < 1:
        raise ValueError("samples must be at least 1")
    task = "implement"
    ctx = build_context(
        conn,
        reader,
        sources,
        path=path,
        qualname=qualname,
        memory=memory,
        max_tokens=context_tokens,
        allow_read=allow_read or governed_reads(service, task, task_id),
    )
    tree = parse_python(ctx.file_text, path)
    node = _function(tree, ctx)
    if not is_stub(node):
        raise EngineError(
            f"{ctx.qualname} already has a body; implement only writes stubs "
            "(a body of pass, ..., raise NotImplementedError, or a docstring)"
        )
    header = _stub_header(ctx.file_text, node)
    request = (template or prompt(task)).render(
        notes=ctx.notes(),
        context=ctx.code(),
        language="python",
        signature=header,
        max_tokens=max_tokens,
    )
    model, generations, notes = _generate(
        service, task, request, samples, task_id=task_id, cancel=cancel, on_progress=on_progress
    )
    answers: list[_Answer | None] = []
    errors: list[str] = []
    for generation in generations:
        try:
            answers.append(_function_answer(generation, node, header))
        except EngineError as exc:
            answers.append(None)
            errors.append(str(exc))
    parsed = [a for a in answers if a is not None]
    if not parsed:
        raise EngineError(errors[0])
    counts = Counter(a.key for a in parsed)
    best_key = max(counts, key=lambda k: (counts[k], -[a.key for a in parsed].index(k)))
    chosen = next(a for a in parsed if a.key == best_key)
    generation = chosen.generation
    if chosen.signature_changed:
        notes.append(f"the model changed the signature of {node.name}; the original is kept")
    if chosen.docstring_changed:
        notes.append(f"the model rewrote the docstring of {node.name}; the original is kept")
    notes.extend(_finish_notes(generation))
    after = replace_body(ctx.file_text, node, chosen.body)
    _check_compiles(after, path, generation)
    evidence = _evidence(model, request, generation, ctx)
    evidence.update(
        samples=len(generations),
        samples_wanted=samples,
        samples_parsed=len(parsed),
        agreement=counts[best_key] / len(generations),
        distinct_bodies=len(counts),
        signature_changed=chosen.signature_changed,
    )
    return Draft(
        task=f"Implement {node.name}",
        kind="implement",
        engine=ENGINE,
        change=Change((FileChange(path, ctx.file_text, after),)),
        intent=Intent(kind="implement", changed=(ctx.qualname,), keep_signature=(ctx.qualname,)),
        targets=(Target(path, node.lineno - 1, ctx.qualname),),
        symbols=(ctx.qualname,),
        model=model,
        prompt_hash=_label(request),
        notes=tuple(notes),
        evidence=evidence,
    )


def write_test(
    service: ModelService,
    sources: Sources,
    reader: IndexReader,
    conn: Connection,
    path: str,
    qualname: str,
    *,
    memory: Memory | None = None,
    task_id: str | None = None,
    cancel: CancelToken | None = None,
    allow_read: AllowRead | None = None,
    max_tokens: int | None = None,
    context_tokens: int = 1500,
    on_progress: Progress | None = None,
    template: PromptTemplate | None = None,
) -> Draft:
    """Write pytest tests for ``qualname``: appended to the workspace's test file for its
    module when there is one (new imports merged at its top, colliding names suffixed),
    else in a new ``tests/test_<module>.py``."""
    _require_python(path)
    task = "write_test"
    ctx = build_context(
        conn,
        reader,
        sources,
        path=path,
        qualname=qualname,
        memory=memory,
        max_tokens=context_tokens,
        allow_read=allow_read or governed_reads(service, task, task_id),
    )
    top = ctx.local[0]
    import_line = f"from {ctx.module} import {top}"
    request = (template or prompt(task)).render(
        notes=ctx.notes(),
        qualname=ctx.qualname,
        path=path,
        source=ctx.source.rstrip(),
        context=ctx.code(),
        imports=import_line,
        max_tokens=max_tokens,
    )
    model, generations, notes = _generate(
        service, task, request, 1, task_id=task_id, cancel=cancel, on_progress=on_progress
    )
    generation = generations[0]
    code, answer = _parse_code(generation.text, _has_test)
    if answer is None:
        raise EngineError(f"the model's answer is not Python: {_excerpt(generation.text)}")
    if not _has_test(answer):
        raise EngineError(
            f"the model's answer has no test function (def test_…): {_excerpt(generation.text)}"
        )
    test_path = find_test_file(conn, reader, sources, path, ctx.module)
    before: str | None = None
    if test_path is not None:
        before = sources.text(test_path)
        parse_python(before, test_path)  # a test file that does not parse is not merged into
        test_module = file_module(conn, sources, test_path)
    else:
        stem = ctx.module.rsplit(".", 1)[-1]
        test_path = f"tests/test_{stem}.py"
        test_module = module_name("python", sources.root, test_path, None) or f"test_{stem}"
    merged = merge_tests(
        before, code, answer, target=top, target_import=(ctx.module, top), test_module=test_module
    )
    if not merged.tests:
        raise EngineError(
            f"the model's answer has no test function besides a copy of {top}: "
            f"{_excerpt(generation.text)}"
        )
    notes.extend(merged.notes)
    notes.extend(_finish_notes(generation))
    _check_compiles(merged.text, test_path, generation)
    added = [f"{test_module}.test_*"]
    for name, is_class in merged.added:
        if not name.startswith("test"):
            added.append(f"{test_module}.{name}")
        if is_class:
            added += [f"{test_module}.{name}", f"{test_module}.{name}.*"]
    evidence = _evidence(model, request, generation, ctx)
    evidence.update(
        test_path=test_path,
        test_file_created=before is None,
        tests=[f"{test_module}.{n}" for n in merged.tests],
        renamed=dict(merged.renamed),
    )
    first = merged.tests[0]
    return Draft(
        task=f"Write a test for {ctx.local[-1]}",
        kind="write_test",
        engine=ENGINE,
        change=Change((FileChange(test_path, before, merged.text),)),
        intent=Intent(kind="write_test", added=tuple(dict.fromkeys(added))),
        targets=(Target(test_path, merged.first_line, f"{test_module}.{first}"),),
        symbols=(ctx.qualname,),
        model=model,
        prompt_hash=_label(request),
        notes=tuple(notes),
        evidence=evidence,
    )


def fix_test(
    service: ModelService,
    sources: Sources,
    reader: IndexReader,
    conn: Connection,
    path: str,
    qualname: str,
    *,
    node_id: str,
    failure_output: str,
    memory: Memory | None = None,
    task_id: str | None = None,
    cancel: CancelToken | None = None,
    allow_read: AllowRead | None = None,
    max_tokens: int | None = None,
    context_tokens: int = 1500,
    on_progress: Progress | None = None,
    template: PromptTemplate | None = None,
) -> Draft:
    """Rewrite the body of the failing test ``node_id`` (``qualname`` in ``path``; the
    module prefix may be left out). Only that test changes — the code under test is taken
    as right — plus any import the new body needs."""
    _require_python(path)
    task = "fix_test"
    ctx = build_context(
        conn,
        reader,
        sources,
        path=path,
        qualname=qualname,
        memory=memory,
        max_tokens=context_tokens,
        allow_read=allow_read or governed_reads(service, task, task_id),
        related_source=True,
    )
    tree = parse_python(ctx.file_text, path)
    node = _function(tree, ctx)
    request = (template or prompt(task)).render(
        notes=ctx.notes(),
        test=node_id,
        qualname=ctx.qualname,
        path=path,
        test_source=ctx.source.rstrip(),
        output=_tail(failure_output, FAILURE_CHARS),
        context=ctx.code(),
        max_tokens=max_tokens,
    )
    model, generations, notes = _generate(
        service, task, request, 1, task_id=task_id, cancel=cancel, on_progress=on_progress
    )
    generation = generations[0]
    answer = _function_answer(generation, node, _stub_header(ctx.file_text, node))
    if answer.key == _body_key(node):
        raise EngineError(f"the model's answer leaves {node.name} as it was")
    if answer.signature_changed:
        notes.append(f"the model changed the signature of {node.name}; the original is kept")
    checks_before, checks_after = _checks(node), _checks(answer.function)
    if checks_after < checks_before:
        notes.append(
            f"the fixed test checks less: {checks_after} asserts where it had {checks_before}"
        )
    after = replace_body(ctx.file_text, node, answer.body)
    after, imported = _merge_imports(after, answer.module)
    notes.extend(f"added the import the new test needs: {line}" for line in imported)
    notes.extend(_finish_notes(generation))
    _check_compiles(after, path, generation)
    evidence = _evidence(model, request, generation, ctx)
    evidence.update(
        node_id=node_id,
        imports_added=imported,
        checks_before=checks_before,
        checks_after=checks_after,
    )
    return Draft(
        task=f"Fix the test {node.name} (the test changes, not the code under test)",
        kind="fix_test",
        engine=ENGINE,
        change=Change((FileChange(path, ctx.file_text, after),)),
        intent=Intent(kind="fix_test", changed=(ctx.qualname,), keep_signature=(ctx.qualname,)),
        targets=(Target(path, node.lineno - 1, ctx.qualname),),
        symbols=(ctx.qualname,),
        model=model,
        prompt_hash=_label(request),
        notes=tuple(notes),
        evidence=evidence,
    )


def governed_reads(service: ModelService, task: str, task_id: str | None) -> AllowRead:
    """Governance's answer on reading a path into a model's context (a dry run: nothing
    is recorded or charged; the context's record lists what was refused)."""

    def allow(path: str) -> bool:
        action = Action(kind="read", paths=(path,), task=task, task_id=task_id)
        return service.engine.explain(action).allowed

    return allow


# -- the model call -------------------------------------------------------------------------


def _generate(
    service: ModelService,
    task: str,
    request: GenerationRequest,
    samples: int,
    *,
    task_id: str | None,
    cancel: CancelToken | None,
    on_progress: Progress | None,
) -> tuple[str, list[Generation], list[str]]:
    """(model, generations, notes): the first call must answer; later samples stop at the
    first one that cannot (a spent budget), with a note."""
    model: str | None = None
    generations: list[Generation] = []
    notes: list[str] = []
    for i in range(samples):
        sample = (
            request
            if i == 0
            else dataclasses.replace(request, temperature=SAMPLE_TEMPERATURE, seed=i)
        )
        call = service.generate(
            task, sample, task_id=task_id, cancel=cancel, on_progress=on_progress
        )
        if call.generation is None:
            why = call.unavailable or f"no model answered {task}"
            if i == 0:
                raise EngineError(why)
            notes.append(f"{i} of {samples} samples: {why}")
            break
        if call.generation.finish_reason == "cancelled":
            if i == 0:
                raise EngineError("the model call was cancelled")
            break
        model = call.model or call.generation.model
        generations.append(call.generation)
    assert model is not None
    return model, generations, notes


def _label(request: GenerationRequest) -> str | None:
    return request.template.label if request.template is not None else None


def _evidence(
    model: str, request: GenerationRequest, generation: Generation, ctx: PromptContext
) -> dict[str, Any]:
    return {
        "model": model,
        "backend": generation.backend,
        "prompt": _label(request),
        "finish_reason": generation.finish_reason,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "tokens": generation.total_tokens,
        "seconds": round(generation.seconds, 4),
        "logprobs": generation.logprob_stats(),
        "context": ctx.record(),
    }


def _finish_notes(generation: Generation) -> list[str]:
    if generation.finish_reason in ("length", "budget"):
        limit = "max_tokens" if generation.finish_reason == "length" else "the token budget"
        return [f"the model's answer was cut by {limit}; only the part that parses is used"]
    return []


# -- reading answers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    generation: Generation
    module: ast.Module  # the whole answer (for its imports)
    function: Definition  # the answer's definition of the function
    body: list[str]  # the function's body, dedented, docstring dropped
    key: str  # the body's normalised form: equal keys, same code
    signature_changed: bool
    docstring_changed: bool


def _function_answer(generation: Generation, ours: Definition, header: str) -> _Answer:
    """The body the model's answer gives the function ``ours``: from its definition of
    the function, else from code that continues ``header`` (the signature and docstring
    the prompt ended with). An EngineError when there is neither."""
    text = generation.text
    name = ours.name

    def wanted(tree: ast.Module) -> bool:
        fn = _find_function(tree, name)
        return fn is not None and _substantive(fn)

    code, tree = _parse_code(text, wanted)
    fn = _find_function(tree, name) if tree is not None else None
    continued = False
    if fn is None or not _substantive(fn):
        found = _continuation(text, header, name)
        if found is not None:
            code, tree, fn = found
            continued = True
    if tree is None or fn is None:
        what = "is not Python" if tree is None else f"has no def {name}"
        raise EngineError(f"the model's answer {what}: {_excerpt(text)}")
    body = function_body(code, fn)
    if body is None or not _substantive(fn):
        raise EngineError(f"the model's answer gives {name} no body: {_excerpt(text)}")
    doc, our_doc = _docstring(fn), _docstring(ours)
    return _Answer(
        generation,
        tree,
        fn,
        body,
        _body_key(fn),
        signature_changed=not continued and _signature(fn) != _signature(ours),
        docstring_changed=not continued
        and doc is not None
        and (our_doc is None or _doc_value(doc).strip() != _doc_value(our_doc).strip()),
    )


def _continuation(
    text: str, header: str, name: str
) -> tuple[str, ast.Module, ast.FunctionDef | ast.AsyncFunctionDef] | None:
    """An answer that is only the body, continuing the prompt's ``header``: a fenced
    block or an indented answer from its start, or a run of indented lines after prose;
    re-indented under the header."""
    for candidate, fenced in _fenced(text):
        lines = candidate.split("\n")[:MAX_PARSE_LINES]
        first = next((line for line in lines if line.strip()), "")
        starts = (
            [0]
            if (fenced or first[:1] in (" ", "\t"))
            and not first.lstrip().startswith(("def ", "async def ", "class ", "@"))
            else []
        )
        starts += [
            i
            for i, line in enumerate(lines)
            if i
            and line[:1] in (" ", "\t")
            and line.strip()
            and not (lines[i - 1][:1] in (" ", "\t") and lines[i - 1].strip())
            and not _BLOCK_HEADER.match(lines[i - 1])  # the body of another definition
        ]
        for start in starts[:MAX_STARTS]:
            end = len(lines)
            if lines[start][:1] in (" ", "\t"):  # the indented run, up to prose at column 0
                end = next(
                    (
                        j
                        for j in range(start, end)
                        if lines[j].strip() and lines[j][:1] not in " \t"
                    ),
                    end,
                )
            body = textwrap.indent(textwrap.dedent("\n".join(lines[start:end])), "    ")
            parsed = _longest_parse(f"{header}\n{body}".split("\n"))
            if parsed is None:
                continue
            fn = _find_function(parsed[1], name)
            if fn is not None and _substantive(fn):
                return parsed[0], parsed[1], fn
    return None


def _signature(fn: Definition) -> tuple[str, ...]:
    if isinstance(fn, ast.ClassDef):
        return (ast.dump(ast.Tuple(elts=fn.bases, ctx=ast.Load())),)
    return (
        type(fn).__name__,
        ast.dump(fn.args),
        ast.dump(fn.returns) if fn.returns is not None else "",
        *(ast.dump(d) for d in fn.decorator_list),
    )


def _parse_code(text: str, wanted: Callable[[ast.Module], bool]) -> tuple[str, ast.Module | None]:
    """The Python in a model's answer: the first fenced block (or the text around fences)
    that parses and satisfies ``wanted``, else the first that parses. Prose before the
    code and a tail that does not parse (an explanation, a cut-off line) are dropped."""
    first: tuple[str, ast.Module] | None = None
    for candidate in _candidates(text):
        for block in _starts(candidate):
            parsed = _longest_parse(block)
            if parsed is None:
                continue
            if wanted(parsed[1]):
                return parsed
            if first is None:
                first = parsed
    return first if first is not None else (text, None)


def _candidates(text: str) -> list[str]:
    """The answer's fenced code blocks (an unclosed last one included), then the whole
    answer without its fence lines."""
    return [c for c, _ in _fenced(text)]


def _fenced(text: str) -> list[tuple[str, bool]]:
    text = text.replace("\r\n", "\n")
    # split with one group per fence: text, fence, text, fence, ... — the text pieces
    # after an opening fence are code blocks
    texts = _FENCE.split(text)[0::2]
    out = [(texts[i], True) for i in range(1, len(texts), 2)]
    out.append((_FENCE.sub("", text), False))
    return [(c, fenced) for c, fenced in out if c.strip()]


def _starts(code: str) -> list[list[str]]:
    """``code``'s lines, then the same from each later line that looks like code."""
    lines = code.split("\n")[:MAX_PARSE_LINES]
    starts = [0] + [
        i for i, line in enumerate(lines) if i and line.lstrip().startswith(_CODE_START)
    ]
    return [textwrap.dedent("\n".join(lines[i:])).split("\n") for i in starts[:MAX_STARTS]]


def _longest_parse(lines: list[str]) -> tuple[str, ast.Module] | None:
    """The longest head of ``lines`` that parses (a tail of prose or a line cut off by
    max_tokens is dropped); each failure cuts before the line the parser stopped at."""
    end = len(lines)
    while end > 0:
        while end > 0 and not lines[end - 1].strip():
            end -= 1
        if end == 0:
            break
        code = "\n".join(lines[:end]) + "\n"
        try:
            return code, ast.parse(code)
        except SyntaxError as exc:
            stop = exc.lineno if exc.lineno is not None else end
            end = min(end - 1, max(stop - 1, 0)) if stop <= end else end - 1
        except ValueError:
            end -= 1
    return None


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == name
            and (found is None or node.col_offset < found.col_offset)
        ):
            found = node
    return found


def _has_test(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            return True
        if isinstance(node, ast.ClassDef) and any(
            isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")
            for n in node.body
        ):
            return True
    return False


def _docstring(node: Definition) -> ast.Expr | None:
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def _statements(node: Definition) -> list[ast.stmt]:
    """The body without its docstring."""
    return node.body[1:] if _docstring(node) is not None else list(node.body)


def _substantive(node: Definition) -> bool:
    """Whether ``node`` has a body beyond ``pass``, ``...``, ``raise
    NotImplementedError`` and expressions that do nothing (a string, a bare name)."""
    return any(
        not (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant | ast.Name | ast.Attribute)
        )
        for stmt in _statements(node)
    ) and not is_stub(node)


def _body_key(node: Definition) -> str:
    return ast.dump(ast.Module(body=_statements(node), type_ignores=[]))


def function_body(code: str, fn: Definition) -> list[str] | None:
    """``fn``'s statements as lines indented from column 0 (the docstring dropped), or
    None when it has nothing but a docstring."""
    body = _statements(fn)
    if not body:
        return None
    lines = code.split("\n")
    first = body[0]
    line = lines[first.lineno - 1]
    if _cut(line, first.col_offset).strip():  # on the def's own line: `def f(x): return x`
        return [ast.unparse(stmt) for stmt in body]
    indent = line[: len(line) - len(line.lstrip())]
    doc = _docstring(fn)
    floor = doc.end_lineno or doc.lineno if doc is not None else fn.lineno
    start = first.lineno - 1
    while start - 1 >= floor and lines[start - 1].strip().startswith("#"):
        start -= 1  # comments above the first statement belong to the body
    out: list[str] = []
    for text in lines[start : fn.end_lineno]:
        if text.startswith(indent):
            out.append(text[len(indent) :])
        else:
            out.append(text.lstrip() if not text.strip() else text)
    while out and not out[-1].strip():
        out.pop()
    return [text.rstrip() for text in out]


# -- changing the file ----------------------------------------------------------------------


def is_stub(node: Definition) -> bool:
    """A body of only ``pass``, ``...``, ``raise NotImplementedError…`` (or a docstring)."""
    for stmt in _statements(node):
        if isinstance(stmt, ast.Pass):
            continue
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and stmt.value.value is Ellipsis
        ):
            continue
        if isinstance(stmt, ast.Raise) and _not_implemented(stmt.exc):
            continue
        return False
    return True


def _not_implemented(exc: ast.expr | None) -> bool:
    if isinstance(exc, ast.Call):
        exc = exc.func
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def replace_body(text: str, node: Definition, body: Sequence[str]) -> str:
    """``text`` with ``node``'s statements replaced by ``body`` (dedented lines), its
    decorators, signature, docstring and everything around it as they were."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    first = node.body[0]
    first_line = lines[first.lineno - 1]
    doc = _docstring(node)
    head: list[str]
    if _cut(first_line, first.col_offset).strip():  # the body starts on the def's line
        def_line = lines[node.lineno - 1]
        indent = def_line[: len(def_line) - len(def_line.lstrip())] + "    "
        head = lines[: first.lineno - 1]
        head.append(_cut(first_line, first.col_offset).rstrip() + newline)
        if doc is not None:
            segment = ast.get_source_segment(text, doc) or repr(_doc_value(doc))
            head.append(indent + segment + newline)
    else:
        indent = first_line[: len(first_line) - len(first_line.lstrip())]
        keep = doc.end_lineno if doc is not None and doc.end_lineno else first.lineno - 1
        head = lines[:keep]
        if head and not head[-1].endswith(("\n", "\r")):
            head[-1] += newline
    new_body = [(indent + line if line.strip() else "") + newline for line in body]
    return "".join(head + new_body + lines[node.end_lineno or node.lineno :])


def _doc_value(doc: ast.Expr) -> str:
    assert isinstance(doc.value, ast.Constant)
    return str(doc.value.value)


def _cut(line: str, col: int) -> str:
    """``line`` up to ``col`` (ast columns count UTF-8 bytes)."""
    return line.encode("utf-8")[:col].decode("utf-8", errors="replace")


def _stub_header(text: str, node: Definition) -> str:
    """The stub as the model sees it: decorators, signature and docstring, dedented."""
    lines = text.splitlines()
    first = node.body[0]
    doc = _docstring(node)
    if _cut(lines[first.lineno - 1], first.col_offset).strip():
        header = lines[definition_start(node) - 1 : first.lineno - 1]
        header.append(_cut(lines[first.lineno - 1], first.col_offset).rstrip())
        if doc is not None:
            header.append("    " + repr(_doc_value(doc)))
        return textwrap.dedent("\n".join(header))
    end = doc.end_lineno if doc is not None and doc.end_lineno else first.lineno - 1
    return textwrap.dedent("\n".join(lines[definition_start(node) - 1 : end]))


def _function(tree: ast.Module, ctx: PromptContext) -> ast.FunctionDef | ast.AsyncFunctionDef:
    chain = find_definition(tree, ctx.local)
    node = chain[-1] if chain else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise EngineError(f"{ctx.qualname} is not a function")
    return node


def _check_compiles(text: str, path: str, generation: Generation) -> None:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise EngineError(
            f"the model's answer does not fit into {path} ({exc}): {_excerpt(generation.text)}"
        ) from exc


def _require_python(path: str) -> None:
    if not path.endswith(".py"):
        raise EngineError(f"model engines write Python; {path} is not a Python file")


def _excerpt(text: str) -> str:
    text = text.strip()
    if not text:
        return "(an empty answer)"
    return repr(text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…")


def _tail(text: str, chars: int) -> str:
    return text if len(text) <= chars else "…" + text[-chars:]


# -- test files -----------------------------------------------------------------------------


def find_test_file(
    conn: Connection, reader: IndexReader, sources: Sources, path: str, module: str
) -> str | None:
    """The workspace's test file for ``path``'s module: ``tests/test_<module>.py``,
    ``test_<module>.py`` beside it, another indexed ``test_<module>.py``, or a test file
    that imports the module. None: there is none."""
    stem = module.rsplit(".", 1)[-1]
    name = f"test_{stem}.py"
    folder = posixpath.dirname(path)
    candidates = [f"tests/{name}", posixpath.join(folder, name) if folder else name]
    candidates += [f"{folder}/tests/{name}"] if folder else []
    candidates += [
        row[0]
        for row in conn.execute(
            "SELECT path FROM files WHERE path = ? OR path LIKE ? ORDER BY length(path), path",
            (name, f"%/{name}"),
        )
    ]
    for candidate in dict.fromkeys(candidates):
        if _exists(sources, candidate):
            return candidate
    deps = reader.module_deps(path)
    importers = [p for p in (deps.imported_by if deps else ()) if _is_test_file(p)]
    importers.sort(key=lambda p: (stem not in posixpath.basename(p), len(p), p))
    for candidate in importers:
        if _exists(sources, candidate):
            return candidate
    return None


def _is_test_file(path: str) -> bool:
    base = posixpath.basename(path)
    return base.endswith(".py") and (base.startswith("test_") or base.endswith("_test.py"))


def _exists(sources: Sources, path: str) -> bool:
    try:
        sources.text(path)
    except (OSError, UnicodeDecodeError, EditError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class MergedTests:
    text: str
    first_line: int  # 0-based line where the new code starts
    added: list[tuple[str, bool]]  # (top-level name, is a class), as written
    tests: list[str]  # top-level test functions and test classes, as written
    renamed: list[tuple[str, str]]
    notes: list[str]


def merge_tests(
    before: str | None,
    code: str,
    answer: ast.Module,
    *,
    target: str,
    target_import: tuple[str, str],
    test_module: str,
) -> MergedTests:
    """The model's tests added to a test file (``before``; None: a new file): its imports
    that the file lacks go at the top, its definitions at the end, renamed where a name is
    taken. A copy of the function under test (``target``) is dropped, and imported instead."""
    notes: list[str] = []
    existing = ast.parse(before) if before is not None else ast.Module(body=[], type_ignores=[])
    taken = _bound_names(existing)
    lines = code.split("\n")
    blocks: list[tuple[ast.stmt, str]] = []
    for stmt in answer.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if stmt.name == target:
                notes.append(f"dropped the model's own copy of {target}; the test imports it")
                continue
            start = definition_start(stmt)
        elif _is_main_guard(stmt):
            continue
        else:
            start = stmt.lineno
        blocks.append((stmt, "\n".join(lines[start - 1 : stmt.end_lineno]).rstrip()))
    renamed: list[tuple[str, str]] = []
    defined: set[str] = set()
    for stmt, _ in blocks:
        for name in _defines(stmt):
            if name in taken or name in defined:
                new = _free_name(name, taken | defined)
                renamed.append((name, new))
                defined.add(new)
            else:
                defined.add(name)
    body = "\n\n\n".join(text for _, text in blocks)
    body = _rename(body, dict(renamed))
    rename = dict(renamed)
    added = [
        (rename.get(name, name), isinstance(stmt, ast.ClassDef))
        for stmt, _ in blocks
        for name in _defines(stmt)
    ]
    tests = [
        rename.get(stmt.name, stmt.name)
        for stmt, _ in blocks
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and _has_test(ast.Module(body=[stmt], type_ignores=[]))
    ]
    for old, new in renamed:
        notes.append(f"renamed the new {old} to {new}: the test file already has {old}")
    # imports: the answer's that the file lacks, and the function under test
    module, name = target_import
    wanted: list[ast.stmt] = []
    for stmt in answer.body:
        if isinstance(stmt, ast.ImportFrom) and (stmt.module, stmt.level) != (module, 0):
            # the function under test comes from its module, whatever the model guessed
            wrong = [a for a in stmt.names if (a.asname or a.name) == target]
            if wrong:
                notes.append(f"imported {target} from {module}, not from {stmt.module}")
                kept = [a for a in stmt.names if a not in wrong]
                if kept:
                    wanted.append(ast.ImportFrom(module=stmt.module, names=kept, level=stmt.level))
                continue
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            wanted.append(stmt)
    if target not in _bound_names(ast.Module(body=list(wanted), type_ignores=[])):
        wanted.append(ast.ImportFrom(module=module, names=[ast.alias(name=name)], level=0))
    if before is None:
        imports = _new_imports(ast.Module(body=[], type_ignores=[]), wanted, future=True)
        head = "\n".join(imports) + ("\n\n\n" if imports else "")
        text = head + body + "\n"
        return MergedTests(text, len(head.split("\n")) - 1, added, tests, renamed, notes)
    newline = "\r\n" if "\r\n" in before else "\n"
    with_imports, imported = _merge_imports(before, ast.Module(body=wanted, type_ignores=[]))
    dropped = [s for s in wanted if isinstance(s, ast.ImportFrom) and s.module == "__future__"]
    if dropped:
        notes.append("left out the answer's __future__ imports: the file exists")
    stripped = with_imports.rstrip()
    first_line = len(stripped.splitlines()) + 2 if stripped else 0
    separator = "\n\n\n" if stripped else ""
    text = stripped + separator + body + "\n"
    if newline != "\n":
        text = text.replace("\r\n", "\n").replace("\n", newline)
    notes.extend(f"added an import the tests need: {line}" for line in imported)
    return MergedTests(text, first_line, added, tests, renamed, notes)


def _checks(node: Definition) -> int:
    """The asserts in a test: ``assert`` statements and ``raises``/``warns`` calls."""
    count = 0
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            count += 1
        elif isinstance(sub, ast.Call):
            func = sub.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            count += name in ("raises", "warns", "assertRaises") or name.startswith("assert")
    return count


def _is_main_guard(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Compare)
        and isinstance(stmt.test.left, ast.Name)
        and stmt.test.left.id == "__name__"
    )


def _defines(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id]
    return []


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            names.update((a.asname or a.name).split(".", 1)[0] for a in stmt.names)
        elif isinstance(stmt, ast.ImportFrom):
            names.update(a.asname or a.name for a in stmt.names)
        else:
            names.update(_defines(stmt))
    return names


def _free_name(name: str, taken: set[str]) -> str:
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _rename(code: str, renames: dict[str, str]) -> str:
    """``code`` with the names in ``renames`` replaced where they are names (not
    attributes, not inside strings)."""
    if not renames:
        return code
    edits: list[tuple[int, int, str, str]] = []
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.NAME and token.string in renames and previous != ".":
                row, col = token.start
                edits.append((row, col, token.string, renames[token.string]))
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                previous = token.string
    except (tokenize.TokenError, SyntaxError):
        return code
    lines = code.split("\n")
    for row, col, old, new in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old) :]
    return "\n".join(lines)


def _new_imports(existing: ast.Module, wanted: Sequence[ast.stmt], *, future: bool) -> list[str]:
    """Import lines for what ``wanted`` binds that ``existing`` does not."""
    bound = _bound_names(existing)
    out: list[str] = []
    for stmt in wanted:
        if isinstance(stmt, ast.Import):
            aliases = [a for a in stmt.names if (a.asname or a.name).split(".")[0] not in bound]
            if aliases:
                out.append(ast.unparse(ast.Import(names=aliases)))
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.module == "__future__" and not future:
                continue
            aliases = [a for a in stmt.names if (a.asname or a.name) not in bound]
            if aliases:
                node = ast.ImportFrom(module=stmt.module, names=aliases, level=stmt.level)
                out.append(ast.unparse(node))
        else:
            continue
        bound |= _bound_names(ast.Module(body=[stmt], type_ignores=[]))
    futures = [line for line in out if line.startswith("from __future__")]
    return list(dict.fromkeys(futures + [line for line in out if line not in futures]))


def _merge_imports(text: str, answer: ast.Module) -> tuple[str, list[str]]:
    """``text`` with the imports of ``answer`` it lacks (``__future__`` ones left out)
    added after its own imports at the top — after its docstring when it has none, else
    at its start; returns the lines added."""
    tree = ast.parse(text)
    wanted = [s for s in answer.body if isinstance(s, ast.Import | ast.ImportFrom)]
    new = _new_imports(tree, wanted, future=False)
    if not new:
        return text, []
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    last_import = docstring = 0
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            last_import = stmt.end_lineno or stmt.lineno
        elif i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            docstring = stmt.end_lineno or stmt.lineno
        else:
            break
    block = [line + newline for line in new]
    at = last_import or docstring
    if at and not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += newline
    rest = lines[at:]
    if not last_import:
        if docstring:
            block.insert(0, newline)
        if rest and rest[0].strip():
            block.append(newline)
    return "".join(lines[:at] + block + rest), new
