"""Every translation catalog is complete: no entry untranslated or fuzzy, placeholders kept, plural forms right.

The .po files are read by the small parser below (no extra dependency), so this runs without Django or gettext.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / "textdesk"
LANGUAGES = ("pt_BR", "es", "it")
CATALOGS = sorted(PACKAGE_DIR.glob("**/locale/*/LC_MESSAGES/*.po"))


@dataclass
class Entry:
    line: int
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    def label(self) -> str:
        return f"line {self.line}: {self.msgid[:70]!r}"


def parse_po(text: str) -> list[Entry]:
    """Entries of a gettext catalog, the header (msgid "") included, in file order."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int | None] | None = None  # which field the next quoted continuation line extends

    def start(line_no: int) -> Entry:
        nonlocal entry
        if entry is None or entry.msgstr:
            entry = Entry(line=line_no)
            entries.append(entry)
        return entry

    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            target = None
            continue
        if line.startswith("#,"):
            start(line_no).flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.startswith('"'):
            rest, keyword = line, ""
        value = ast.literal_eval(rest) if rest.startswith('"') else None
        if not isinstance(value, str):
            raise ValueError(f"line {line_no}: cannot read {raw!r}")
        if keyword == "":
            if target is None or entry is None:
                raise ValueError(f"line {line_no}: a quoted line that continues nothing")
            name, index = target
            if name == "msgstr":
                entry.msgstr[index] += value
            else:
                setattr(entry, name, getattr(entry, name) + value)
            continue
        if keyword in ("msgctxt", "msgid") or (keyword == "msgid_plural"):
            current = start(line_no) if keyword != "msgid_plural" else entry
            if keyword == "msgid" and current.msgid:
                current = Entry(line=line_no)
                entries.append(current)
                entry = current
            setattr(current, keyword, value)
            current.obsolete = current.obsolete or obsolete
            target = (keyword, None)
            continue
        plural = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if keyword == "msgstr" or plural:
            index = int(plural.group(1)) if plural else 0
            entry.msgstr[index] = value
            target = ("msgstr", index)
            continue
        raise ValueError(f"line {line_no}: unknown keyword {keyword!r}")
    return entries


# %(name)s, %s, %d ...; %% is a literal percent sign, not a placeholder.
PRINTF = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*\d*(?:\.\d+)?(?P<conv>[diouxXeEfFgGcrsa%])")
BRACES = re.compile(r"\{\{.*?\}\}|\{[A-Za-z_][A-Za-z0-9_.]*\}")


def placeholders(text: str, flags: set[str]) -> list[str]:
    found: list[str] = []
    if "python-format" in flags or "%(" in text:
        for match in PRINTF.finditer(text):
            if match.group("conv") != "%":
                found.append(match.group(0))
    if "python-brace-format" in flags or "{{" in text:
        found.extend(BRACES.findall(text))
    # Named placeholders may move within a sentence; positional ones (%s) must keep their order.
    named = sorted(p for p in found if p.startswith(("%(", "{")))
    positional = [p for p in found if not p.startswith(("%(", "{"))]
    return named + positional


def nplurals(header: Entry) -> int:
    match = re.search(r"nplurals\s*=\s*(\d+)", header.msgstr.get(0, ""))
    assert match, "the catalog's header has no Plural-Forms"
    return int(match.group(1))


def catalog_problems(path: Path) -> list[str]:
    entries = parse_po(path.read_text(encoding="utf-8"))
    header = next(e for e in entries if e.msgid == "" and e.msgctxt is None)
    plural_count = nplurals(header)
    problems: list[str] = []
    for entry in entries:
        if entry is header:
            continue
        if entry.obsolete:
            problems.append(f"{entry.label()} is obsolete (#~): remove it")
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"{entry.label()} is fuzzy")
        if entry.msgid_plural is None:
            forms = {0: entry.msgstr.get(0, "")}
            expected = {0: placeholders(entry.msgid, entry.flags)}
        else:
            forms = entry.msgstr
            if sorted(forms) != list(range(plural_count)):
                problems.append(f"{entry.label()} has plural forms {sorted(forms)}, expected {plural_count}")
            expected = {i: placeholders(entry.msgid_plural, entry.flags) for i in forms}
        for index, text in forms.items():
            if not text.strip():
                problems.append(f"{entry.label()} is untranslated (form {index})")
                continue
            got = placeholders(text, entry.flags)
            allowed = [expected[index]]
            if entry.msgid_plural is not None and index == 0:
                allowed.append(placeholders(entry.msgid, entry.flags))  # "one message" needs no %(n)s
            if got not in allowed:
                problems.append(f"{entry.label()} form {index} has placeholders {got}, expected {allowed[0]}")
            if entry.msgid.endswith("\n") != text.endswith("\n"):
                problems.append(f"{entry.label()} form {index} must end with a newline exactly when its msgid does")
    return problems


def test_every_language_has_a_project_catalog_and_an_app_catalog():
    found = {(p.parents[2].parent.name, p.parents[1].name) for p in CATALOGS}
    for language in LANGUAGES:
        assert ("textdesk", language) in found
        assert ("sequences", language) in found
    assert {language for _, language in found} == set(LANGUAGES)


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_catalog_is_completely_translated(path):
    problems = catalog_problems(path)
    assert not problems, f"{path.relative_to(PACKAGE_DIR)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_catalogs_of_a_folder_hold_the_same_messages(path):
    """The three languages translate exactly the same msgids (all were regenerated together)."""
    keys = {(e.msgctxt, e.msgid) for e in parse_po(path.read_text(encoding="utf-8"))}
    for sibling in path.parents[2].glob(f"*/LC_MESSAGES/{path.name}"):
        other = {(e.msgctxt, e.msgid) for e in parse_po(sibling.read_text(encoding="utf-8"))}
        assert keys == other, f"{sibling} differs from {path}: {sorted(keys ^ other)[:5]}"


# The checker itself must catch what it is there to catch.

SAMPLE = r"""
msgid ""
msgstr ""
"Language: xx\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: a.py:1
#, python-format
msgid "Hello %(name)s"
msgstr "Olá %(nome)s"

#: a.py:2
#, fuzzy
msgid "Save"
msgstr "Salvar"

#: a.py:3
msgid ""
"Long "
"text"
msgstr ""

#: a.py:4
#, python-format
msgid "One message"
msgid_plural "%(n)s messages"
msgstr[0] "Uma mensagem"
msgstr[1] "%(n)s mensagens"

#: a.py:5
#, python-format
msgid "%(n)s note"
msgid_plural "%(n)s notes"
msgstr[0] "%(n)s nota"

#: a.py:6
#, python-format
msgid "Up %s%%"
msgstr "Sube %s %%"

#~ msgid "Gone"
#~ msgstr "Ido"
"""


def test_parser_reads_continuations_flags_and_plurals():
    entries = parse_po(SAMPLE)
    assert [e.msgid for e in entries] == [
        "",
        "Hello %(name)s",
        "Save",
        "Long text",
        "One message",
        "%(n)s note",
        "Up %s%%",
        "Gone",
    ]
    assert "fuzzy" in entries[2].flags and "python-format" in entries[1].flags
    assert entries[4].msgid_plural == "%(n)s messages" and entries[4].msgstr == {
        0: "Uma mensagem",
        1: "%(n)s mensagens",
    }
    assert entries[7].obsolete and not entries[6].obsolete


def test_checker_reports_each_kind_of_problem(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(SAMPLE, encoding="utf-8")
    problems = "\n".join(catalog_problems(po))
    assert "'Hello %(name)s' form 0 has placeholders ['%(nome)s']" in problems
    assert "'Save' is fuzzy" in problems
    assert "'Long text' is untranslated" in problems
    assert "One message" not in problems  # the singular may leave the count out, as its msgid does
    assert "'%(n)s note' has plural forms [0], expected 2" in problems
    assert "Up %s%%" not in problems  # %% is no placeholder
    assert "'Gone' is obsolete" in problems
