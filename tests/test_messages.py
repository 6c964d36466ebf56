"""One kind of translatable message: every domain error and every message the code raises, records or prints
reads in the reader's language, and the catalogs are complete."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.catalog import Message as CatalogEntry
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import force_locale

from core import i18n
from core.config import load_config
from core.errors import DomainError, ValidationFailed
from core.messages import N_, Message, format_message, message
from importers.records import Problem

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "core", "filing", "importers", "ipam")
CATALOGS = sorted((ROOT / "core" / "translations").glob("*/LC_MESSAGES/messages.po"))
CHINESE_CATALOG = ROOT / "core" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
# Where a name is bound to a function whose first argument is a catalog template.
TRANSLATORS = {
    "core.messages": {"message", "N_"},
    "importers.records": {"N_"},
    "flask_babel": {"gettext", "lazy_gettext"},
}
# Templates Chinese writes as English does (an acronym).
SAME_IN_CHINESE = frozenset({"IDC", "SHA-256"})
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?([a-zA-Z])")
SAMPLE_VALUES = {"d": 7, "i": 7, "f": 1.5, "e": 1.5, "g": 1.5}


@pytest.fixture(scope="module")
def babel_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The application's language set-up alone (no database): Chinese unless the reader chooses English."""
    app = Flask(__name__, instance_path=str(tmp_path_factory.mktemp("instance")))
    load_config(app, {"SECRET_KEY": "messages-test-" + "x" * 40, "V6BEIAN_LANGUAGE": "zh_CN"})
    i18n.init_app(app)
    return app


@pytest.fixture(scope="module")
def chinese() -> Catalog:
    with CHINESE_CATALOG.open("rb") as handle:
        return read_po(handle)


def sample_params(template: str) -> dict[str, object]:
    return {name: SAMPLE_VALUES.get(kind, "X") for name, kind in PLACEHOLDER.findall(template)}


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name != "forms.py":
                yield path


def translator_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in TRANSLATORS:
            names |= {alias.asname or alias.name for alias in node.names if alias.name in TRANSLATORS[node.module]}
    return names


def translated_calls() -> Iterator[tuple[ast.expr, str]]:
    """The first argument of every call of a translating function, with where it is."""
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = translator_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names and node.args:
                yield node.args[0], f"{path.relative_to(ROOT)}:{node.lineno}"


def templates_in_code() -> dict[str, str]:
    """Every literal template passed to a translating function, with where it was found."""
    found: dict[str, str] = {}
    for template, where in translated_calls():
        if isinstance(template, ast.Constant) and isinstance(template.value, str):
            found.setdefault(template.value, where)
    return found


def import_every_module() -> None:
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(module.name)


def every_domain_error() -> list[type[DomainError]]:
    import_every_module()
    found, pending = [], [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def raise_one(cls: type[DomainError], sample: Message) -> DomainError:
    """An instance of ``cls``: its own message when it makes one, else ``sample``; other required arguments 1."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    required = [p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not required:
        return cls()
    extra = {p.name: 1 for p in required[1:]}
    if required[0].name == "problems":  # an error about many lines: (line, message) each
        return cls([(1, sample)], **extra)
    return cls(sample, **extra)


def untranslated(template: str, chinese: Catalog, babel_app: Flask) -> str | None:
    """Why ``template`` would not read in Chinese, or None when it does."""
    entry = chinese.get(template)
    if entry is None or not entry.string or entry.fuzzy:
        return "no Chinese translation in the catalog"
    if {name for name, _kind in PLACEHOLDER.findall(template)} != {
        name for name, _kind in PLACEHOLDER.findall(entry.string)
    }:
        return f"the translation's placeholders differ: {entry.string!r}"
    params = sample_params(template)
    with babel_app.app_context():
        shown = str(Message(template, params))
    if (
        shown == format_message(template, params)
        and re.search("[A-Za-z]", template)
        and template not in SAME_IN_CHINESE
    ):
        return "renders in English"
    return None


def test_every_message_the_code_raises_records_or_prints_reads_in_chinese(babel_app: Flask, chinese: Catalog) -> None:
    templates = templates_in_code()
    assert len(templates) > 100  # the walk finds the code's messages
    problems = [
        f"{where}: {template!r}: {why}"
        for template, where in sorted(templates.items(), key=lambda item: item[1])
        if (why := untranslated(template, chinese, babel_app)) is not None
    ]
    assert not problems, "\n".join(["messages that do not read in Chinese:", *problems])


def test_every_domain_error_reads_in_chinese(babel_app: Flask, chinese: Catalog) -> None:
    sample = message("No organization has the code %(code)s.", code="cmcc")
    problems = []
    for cls in every_domain_error():
        error, name = raise_one(cls, sample), f"{cls.__module__}.{cls.__qualname__}"
        carried = [error.message, *(m for field in error.fields.values() for m in field)]
        if not all(isinstance(m, Message) for m in carried):
            problems.append(f"{name}: carries {carried!r}")
            continue
        if (why := untranslated(error.message.template, chinese, babel_app)) is not None:
            problems.append(f"{name}: {error.message.template!r}: {why}")
        with babel_app.app_context():
            if not error.as_json()["error"]["message"] == str(error) == str(error.message):
                problems.append(f"{name}: its JSON and its text differ")
    assert not problems, "\n".join(["domain errors that do not read in Chinese:", *problems])


def test_no_message_is_built_before_it_is_translated() -> None:
    built = [where for template, where in translated_calls() if isinstance(template, ast.JoinedStr | ast.BinOp)]
    assert built == []  # an f-string or a concatenation is never in the catalog


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.parent.parent.name)
def test_catalogs_have_no_empty_or_fuzzy_entries(catalog: Path) -> None:
    with catalog.open("rb") as handle:
        entries = read_po(handle)
    incomplete = [entry.id for entry in entries if entry.id and (entry.fuzzy or not all(translations_of(entry)))]
    assert incomplete == []


def translations_of(entry: CatalogEntry) -> tuple[str, ...]:
    return entry.string if isinstance(entry.string, tuple) else (entry.string,)


def test_a_message_reads_in_the_language_of_the_request(babel_app: Flask) -> None:
    refused = message("No organization has the code %(code)s.", code="cmcc")
    with babel_app.test_request_context("/api/v1/organizations", headers={"Accept-Language": "en"}):
        assert str(refused) == "No organization has the code cmcc."
    with babel_app.test_request_context("/api/v1/organizations", headers={"Accept-Language": "zh-CN"}):
        assert str(refused) == "没有简称代码为 cmcc 的单位。"
    with babel_app.app_context():  # the CLI and the worker: the configured language
        assert str(refused) == "没有简称代码为 cmcc 的单位。"
        with force_locale("en"):
            assert str(refused) == "No organization has the code cmcc."


def test_an_import_refused_at_start_reads_in_chinese(babel_app: Flask) -> None:
    refused = ValidationFailed.on("carrier", N_("Only registries, carriers and allocators import allocation records."))
    with babel_app.app_context():
        body = refused.as_json()["error"]
    assert body["message"] == "只有注册机构、运营商和下级分配单位可以导入分配记录。"
    assert body["fields"] == {"carrier": [body["message"]]}


def test_a_stored_message_round_trips_and_renders_in_either_language(babel_app: Flask) -> None:
    refused = message("No organization has the code %(code)s.", code="cmcc")
    template, params = json.loads(json.dumps(refused.as_stored()))
    assert Message.from_stored(template, params) == refused
    assert repr(Message.from_stored(template, params)) == repr(refused)
    problem = Problem(3, "holder", "cmcc", template, params)
    with babel_app.app_context():
        assert problem.text() == "没有简称代码为 cmcc 的单位。"
        with force_locale("en"):
            assert problem.text() == "No organization has the code cmcc."


def test_a_message_cannot_be_changed() -> None:
    refused = message("No organization has the code %(code)s.", code="cmcc")
    with pytest.raises(AttributeError):
        refused.template = "something else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        refused.params["code"] = "other"  # type: ignore[index]
    assert refused == message("No organization has the code %(code)s.", code="cmcc")
    assert refused != message("No organization has the code %(code)s.", code="other")


# Different words for the same thing: they may read the same in Chinese. Anything else that differs in English
# differs in Chinese, so that success never reads like failure ("registered" / "is already registered").
SYNONYMS = [
    {"a day off", "day off"}, {"Aggregate", "Block"}, {"Address family", "Family"}, {"Address block", "Prefix"},
    {"Note", "Remarks"}, {"Deleted", "Removed"}, {"File a change", "Submit the change"}, {"Added", "Created"},
    {"Due this week", "this week"}, {"State", "Status"}, {"Kind", "Type"}, {"USCC", "Unified Social Credit Code"},
    {"English name", "Name (English)"},
]  # fmt: skip


def _same_words(a: str, b: str) -> bool:
    """The same message written another way: case, punctuation, a plural."""

    def words(text: str) -> list[str]:
        plain = re.sub(r"[^\w%()]+", " ", text.casefold()).split()
        return [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in plain]

    return words(a) == words(b)


def test_messages_that_differ_in_english_differ_in_chinese(chinese: Catalog) -> None:
    readings: dict[str, list[str]] = {}
    for entry in chinese:
        if entry.id and isinstance(entry.id, str) and entry.string:
            readings.setdefault(entry.string, []).append(entry.id)
    clashes = [
        (text, a, b)
        for text, ids in readings.items()
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
        if not _same_words(a, b) and {a, b} not in SYNONYMS
    ]
    assert clashes == []
