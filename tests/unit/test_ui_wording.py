"""The staff's admin speaks Shopify's English: "fulfill" and "fulfillment", never "fulfil" or
"fulfilment", in what it shows (templates, and the messages and labels of its Python). Names in
code (routes such as .../fulfil, the bulk action "fulfil", template file names) are not words
shown, so they are left alone."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "orderdeck"
# A word shown to people: not part of a path, a file name, an attribute or a key in quotes.
BRITISH = re.compile(
    r"(?<![\w/._'\"#-])[Ff]ulfilments?(?![\w.-])"
    r"|(?<![\w/._#-])Fulfil(?![l\w])"
    r"|(?<=[ (])fulfils?(?=[ .,;:)\n<\"'])"
)


def _python_strings(path: Path) -> list[tuple[int, str]]:
    found = []
    with path.open(encoding="utf-8") as source:
        for token in tokenize.generate_tokens(io.StringIO(source.read()).readline):
            if token.type == tokenize.STRING and token.start[0] == token.end[0]:  # not docstrings
                found.append((token.start[0], token.string))
    return found


def test_the_admin_says_fulfill_and_fulfillment() -> None:
    wrong = []
    for template in sorted((SRC / "web" / "templates").rglob("*.html")):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            wrong += [f"{template.name}:{number}: {m.group()}" for m in BRITISH.finditer(line)]
    for module in [*sorted((SRC / "web").rglob("*.py")), SRC / "store" / "staff.py", SRC / "domain" / "fulfillment.py"]:
        for number, text in _python_strings(module):
            wrong += [f"{module.name}:{number}: {m.group()}" for m in BRITISH.finditer(text)]
    for po in sorted((SRC / "web" / "locales").glob("*.po")):
        msgids = [line for line in po.read_text(encoding="utf-8").splitlines() if line.startswith("msgid")]
        wrong += [f"{po.name}: {line}" for line in msgids if BRITISH.search(line)]
    assert wrong == []


def test_the_check_sees_the_british_spelling() -> None:
    # The pattern is what the test above relies on: it must find the words and spare the names.
    shown = ["<summary>Fulfil items</summary>", "Hold fulfilment", '"Choose an item to fulfil; nothing changed"']
    names = ["w.fulfil", "'fulfil': 'Fulfill items'", 'action="/orders/1/fulfil"', '"admin/order_fulfilment.html"']
    assert all(BRITISH.search(text) for text in shown)
    assert not any(BRITISH.search(text) for text in names)
