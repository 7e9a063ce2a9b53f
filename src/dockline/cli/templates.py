"""Go's text/template, the part Docker users type after `--format`/`-f`, over JSON-shaped values.

What is here: fields (`.A.B`, `$`, `$x.A`, `(pipeline).A`), pipelines (`.A | json`), variables
(`$x := ...`, `$x = ...`), `if`/`else if`/`else`, `range` (with `$i, $e :=` and `else`), `with`,
comments, trim markers (`{{-`, `-}}`), string, number and bool literals, and the functions Go
and Docker's CLI give templates (`json`, `index`, `len`, `join`, `split`, `printf`, `println`,
`eq`, `and`, `not`, `upper`, ...). A template is parsed whole before anything is rendered, and
everything it cannot do is refused with one line naming it (`TemplateError`).

Values are dicts, lists and scalars (what `inspect` and `--format json` print), not Go structs,
so two things differ from Docker on purpose: a missing field is an error (Docker's structs have
no missing fields, only zero values), and a nil prints as nothing, a map or list as JSON
(Go would print `<nil>`, `map[a:1]`, `[a b]`, which no script wants to parse).

Imported only when a template is given: `re` costs start-up time no other command pays.
"""

from __future__ import annotations

import json
import re

from dockline.errors import DocklineError
from dockline.records import TYPE_CHECKING, Record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

# -- lexing -------------------------------------------------------------------------------------


class TemplateError(DocklineError):
    """What is wrong with a template (or with applying it to a value); the caller names it."""


_TOKEN = re.compile(
    r"""(?P<space>\s+)
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<declare>:=) | (?P<assign>=)
    | (?P<open>\() | (?P<close>\)) | (?P<pipe>\|) | (?P<comma>,)
    | (?P<variable>\$\w*(?:\.\w+)*)
    | (?P<field>(?:\.\w+)+|\.)
    | (?P<word>[A-Za-z_]\w*)
    """,
    re.VERBOSE,
)
_BLANKS = (" ", "\t", "\n", "\r")  # after `{{-` or before `-}}`: what makes the dash a trim marker
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


class Token(Record):
    kind: str
    text: str
    spaced: bool  # whitespace before it: `(x).A` chains a field, `(x) .A` is another argument


class Action(Record):
    tokens: list[Token]


def lex(template: str) -> list[str | Action]:
    """Text and actions, with trim markers applied to the text around them."""
    items: list[str | Action] = []
    pos = 0
    trim_next = False
    while (start := template.find("{{", pos)) != -1:
        text = template[pos:start]
        inner = start + 2
        if template[inner : inner + 1] == "-" and template[inner + 1 : inner + 2] in _BLANKS:
            text, inner = text.rstrip(), inner + 1
        items.append(text.lstrip() if trim_next else text)
        if template[inner:].lstrip().startswith("/*"):
            pos, trim_next = _skip_comment(template, inner)
            continue
        tokens, pos, trim_next = _lex_action(template, inner)
        items.append(Action(tokens))
    items.append(template[pos:].lstrip() if trim_next else template[pos:])
    return [item for item in items if item != ""]


def _skip_comment(template: str, pos: int) -> tuple[int, bool]:
    end = template.find("*/", pos)
    if end == -1:
        raise TemplateError("unclosed comment")
    rest = template[end + 2 :]
    if rest.startswith("}}"):
        return end + 4, False
    if rest[:1] in _BLANKS and rest.startswith("-}}", 1):
        return end + 6, True
    raise TemplateError("comment ends before '}}'")


def _lex_action(template: str, pos: int) -> tuple[list[Token], int, bool]:
    """The tokens of one action from `pos`; where it ends and whether it trims what follows."""
    tokens: list[Token] = []
    spaced = True
    while True:
        if template.startswith("}}", pos):
            return tokens, pos + 2, False
        if spaced and template.startswith("-}}", pos):
            return tokens, pos + 3, True
        match = _TOKEN.match(template, pos)
        if match is None:
            if pos >= len(template):
                raise TemplateError("unclosed action: no '}}'")
            raise TemplateError(f"unexpected {template[pos]!r} in an action")
        kind, text = match.lastgroup or "", match.group()
        pos = match.end()
        if kind == "space":
            spaced = True
            continue
        tokens.append(Token(kind, text, spaced))
        spaced = False


# -- parsing ------------------------------------------------------------------------------------

# An argument: ("field", names) on dot, ("variable", name, names), ("literal", value),
# ("function", name), or ("pipeline", Pipeline, names) for a parenthesized one.
if TYPE_CHECKING:
    Arg = tuple[Any, ...]


class Pipeline(Record):
    declare: list[str]  # `$x :=` or `$i, $e :=`; empty when nothing is declared
    assign: bool  # `$x = ...`: sets a variable declared before
    commands: list[list[Arg]]


class Print(Record):
    pipeline: Pipeline


class Block(Record):
    kind: str  # "if", "range" or "with"
    pipeline: Pipeline
    body: list[Node]
    otherwise: list[Node]


if TYPE_CHECKING:
    Node = str | Print | Block

_LITERALS = {"true": True, "false": False, "nil": None}


def parse(template: str) -> list[Node]:
    """The template as a tree; raises TemplateError for anything not understood."""
    items = lex(template)
    try:
        nodes, stop = _parse_nodes(items, 0, top=True)
    except RecursionError:
        raise TemplateError("nested too deeply") from None
    assert stop == len(items)
    return nodes


def _parse_nodes(items: list[str | Action], i: int, *, top: bool) -> tuple[list[Node], int]:
    """Nodes from item `i` until an `end`/`else` (left for the caller) or the end of the text."""
    nodes: list[Node] = []
    while i < len(items):
        item = items[i]
        if isinstance(item, str):
            nodes.append(item)
            i += 1
            continue
        words = item.tokens
        keyword = words[0].text if words and words[0].kind == "word" else ""
        if keyword in ("end", "else"):
            if top:
                raise TemplateError(f"unexpected {{{{{keyword}}}}}")
            return nodes, i
        if keyword in ("if", "range", "with"):
            block, i = _parse_block(items, i, words[1:], keyword)
            nodes.append(block)
            continue
        if keyword in ("define", "template", "block", "break", "continue"):
            raise TemplateError(f"{{{{{keyword}}}}} is not supported")
        nodes.append(Print(_parse_pipeline(words)))
        i += 1
    if not top:
        raise TemplateError("missing {{end}}")
    return nodes, i


def _parse_block(
    items: list[str | Action], i: int, head: list[Token], kind: str
) -> tuple[Block, int]:
    """The block whose action (`head`: its words after the keyword) is item `i`, to its end."""
    pipeline = _parse_pipeline(head, block=kind)
    body, i = _parse_nodes(items, i + 1, top=False)
    closing = _action_at(items, i)
    otherwise: list[Node] = []
    if closing[0].text == "else":
        rest = closing[1:]
        if kind == "if" and rest and rest[0].text == "if":  # else if: an if in the else, one end
            nested, i = _parse_block(items, i, rest[1:], "if")
            return Block(kind, pipeline, body, [nested]), i
        if rest:
            raise TemplateError(f"unexpected {' '.join(t.text for t in rest)!r} after else")
        otherwise, i = _parse_nodes(items, i + 1, top=False)
        closing = _action_at(items, i)
        if closing[0].text != "end":
            raise TemplateError("expected {{end}} after {{else}}")
    if len(closing) > 1:
        raise TemplateError(f"unexpected words after {closing[0].text}")
    return Block(kind, pipeline, body, otherwise), i + 1


def _action_at(items: list[str | Action], i: int) -> list[Token]:
    item = items[i]
    assert isinstance(item, Action)  # _parse_nodes stops only at an end or else action
    return item.tokens


def _parse_pipeline(tokens: list[Token], *, block: str = "") -> Pipeline:
    if not tokens:
        raise TemplateError(f"missing value for {block}" if block else "empty action")
    declare, assign, tokens = _split_declaration(tokens, block)
    commands: list[list[Arg]] = [[]]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "pipe":
            commands.append([])
            i += 1
            continue
        arg, i = _parse_operand(tokens, i)
        commands[-1].append(arg)
    if any(not command for command in commands):
        raise TemplateError("missing command in a pipeline")
    return Pipeline(declare, assign, commands)


def _split_declaration(tokens: list[Token], block: str) -> tuple[list[str], bool, list[Token]]:
    """`$x := p` and `$x = p` anywhere, `$i, $e := p` in a range: (names, assign, p)."""
    kinds = [t.kind for t in tokens[:4]]
    if len(tokens) > 2 and kinds[:2] in (["variable", "declare"], ["variable", "assign"]):
        names, assign, rest = [tokens[0].text], kinds[1] == "assign", tokens[2:]
    elif (
        block == "range"
        and len(tokens) > 4
        and kinds == ["variable", "comma", "variable", "declare"]
    ):
        names, assign, rest = [tokens[0].text, tokens[2].text], False, tokens[4:]
    else:
        return [], False, tokens
    for name in names:
        if "." in name or name == "$":
            raise TemplateError(f"can't declare {name}")
    return names, assign, rest


def _parse_operand(tokens: list[Token], i: int) -> tuple[Arg, int]:
    token = tokens[i]
    kind, text = token.kind, token.text
    if kind == "open":
        depth, j = 1, i + 1
        while j < len(tokens) and depth:
            depth += {"open": 1, "close": -1}.get(tokens[j].kind, 0)
            j += 1
        if depth:
            raise TemplateError("unclosed '('")
        inner = _parse_pipeline(tokens[i + 1 : j - 1])
        names: list[str] = []
        while j < len(tokens) and tokens[j].kind == "field" and not tokens[j].spaced:
            names += _names(tokens[j].text)
            j += 1
        return ("pipeline", inner, names), j
    if kind == "field":
        return ("field", _names(text)), i + 1
    if kind == "variable":
        name, _, path = text.partition(".")
        return ("variable", name, _names("." + path) if path else []), i + 1
    if kind == "string":
        return ("literal", _unquote(text)), i + 1
    if kind == "raw":
        return ("literal", text[1:-1]), i + 1
    if kind == "number":
        return ("literal", float(text) if "." in text else int(text)), i + 1
    if kind == "word" and text in _LITERALS:
        return ("literal", _LITERALS[text]), i + 1
    if kind == "word" and text in FUNCTIONS:
        return ("function", text), i + 1
    if kind == "word":
        raise TemplateError(f"function {text!r} not defined")
    raise TemplateError(f"unexpected {text!r}")


def _names(path: str) -> list[str]:
    return [name for name in path.split(".") if name]


def _unquote(text: str) -> str:
    out: list[str] = []
    chars = iter(text[1:-1])
    for c in chars:
        if c != "\\":
            out.append(c)
            continue
        escaped = next(chars)
        if escaped not in _STRING_ESCAPES:
            raise TemplateError(f"unknown escape \\{escaped} in {text}")
        out.append(_STRING_ESCAPES[escaped])
    return "".join(out)


# -- evaluating ---------------------------------------------------------------------------------


class _State:
    """The root value (`$`) and the variables in scope, innermost last (as Go keeps them)."""

    def __init__(self, root: Any, functions: dict[str, Callable[..., Any]]) -> None:
        self.variables: list[tuple[str, Any]] = [("$", root)]
        self.functions = functions

    def lookup(self, name: str) -> Any:
        for known, value in reversed(self.variables):
            if known == name:
                return value
        raise TemplateError(f"undefined variable {name}")

    def assign(self, name: str, value: Any) -> None:
        for i in range(len(self.variables) - 1, -1, -1):
            if self.variables[i][0] == name:
                self.variables[i] = (name, value)
                return
        raise TemplateError(f"undefined variable {name}")


def render(nodes: list[Node], value: Any, *, header: bool = False) -> str:
    """The text of `nodes` applied to `value`; `header` for a table's header row, where the
    value holds column names and Docker's functions leave them as they are."""
    functions = FUNCTIONS | HEADER_FUNCTIONS if header else FUNCTIONS
    try:
        return "".join(_render(nodes, value, _State(value, functions)))
    except RecursionError:
        raise TemplateError("nested too deeply") from None


def _render(nodes: list[Node], dot: Any, state: _State) -> Iterator[str]:
    mark = len(state.variables)
    for node in nodes:
        if isinstance(node, str):
            yield node
        elif isinstance(node, Print):
            result = _run(node.pipeline, dot, state)
            if not node.pipeline.declare:
                yield plain(result)
        else:
            yield from _render_block(node, dot, state)
    del state.variables[mark:]  # what the nodes declared goes out of scope with them


def _render_block(block: Block, dot: Any, state: _State) -> Iterator[str]:
    mark = len(state.variables)
    if block.kind != "range":
        found = _run(block.pipeline, dot, state)
        chosen = block.body if truth(found) else block.otherwise
        yield from _render(chosen, found if block.kind == "with" and truth(found) else dot, state)
        del state.variables[mark:]
        return
    found = _run(block.pipeline, dot, state, declare=False)
    items = _range_items(found)
    declared = block.pipeline.declare
    for key, item in items:
        if len(declared) == 2:
            state.variables += [(declared[0], key), (declared[1], item)]
        elif declared:
            state.variables.append((declared[0], item))
        yield from _render(block.body, item, state)
        del state.variables[mark:]
    if not items:
        yield from _render(block.otherwise, dot, state)


def _range_items(found: Any) -> list[tuple[Any, Any]]:
    if isinstance(found, dict):
        return [(key, found[key]) for key in sorted(found)]  # Go ranges a map in key order
    if isinstance(found, list):
        return list(enumerate(found))
    if isinstance(found, int) and not isinstance(found, bool):
        return [(i, i) for i in range(found)]  # Go 1.22: range over an integer
    if found is None:
        return []
    raise TemplateError(f"range can't iterate over {plain(found)}")


def _run(pipeline: Pipeline, dot: Any, state: _State, *, declare: bool = True) -> Any:
    """The pipeline's value; declares or assigns its variable (a range declares per item)."""
    value: Any = _NOTHING
    for command in pipeline.commands:
        value = _call(command, dot, state, value)
    if declare and pipeline.declare:
        name = pipeline.declare[0]
        if pipeline.assign:
            state.assign(name, value)
        else:
            state.variables.append((name, value))
    return value


_NOTHING = object()  # no value piped in yet (None is a value: nil)


def _call(command: list[Arg], dot: Any, state: _State, piped: Any) -> Any:
    head = command[0]
    if head[0] == "function":
        args = [_evaluate(arg, dot, state) for arg in command[1:]]
        if piped is not _NOTHING:
            args.append(piped)
        return _apply(head[1], args, state)
    if len(command) > 1:
        raise TemplateError("can't give arguments to a value that is not a function")
    if piped is not _NOTHING:
        raise TemplateError("can't pipe a value into a value that is not a function")
    return _evaluate(head, dot, state)


def _evaluate(arg: Arg, dot: Any, state: _State) -> Any:
    kind = arg[0]
    if kind == "literal":
        return arg[1]
    if kind == "field":
        return _fields(dot, arg[1])
    if kind == "variable":
        return _fields(state.lookup(arg[1]), arg[2])
    if kind == "pipeline":
        return _fields(_run(arg[1], dot, state), arg[2])
    return _apply(arg[1], [], state)  # a function as an argument: called with none, as in Go


def _apply(name: str, args: list[Any], state: _State) -> Any:
    try:
        return state.functions[name](*args)
    except (TypeError, AttributeError, ValueError) as err:  # Python's words for Go's type errors
        raise TemplateError(f"wrong number or type of arguments for {name}") from err


def _fields(value: Any, names: list[str]) -> Any:
    for name in names:
        if value is None:
            raise TemplateError(f"nil pointer evaluating .{name}")
        if not isinstance(value, dict) or name not in value:
            raise TemplateError(f"no field {name!r}")
        value = value[name]
    return value


# -- printing and functions ---------------------------------------------------------------------


def plain(value: Any) -> str:
    """How an action prints a value: Go's for scalars; JSON for maps and lists; nil as nothing."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def truth(value: Any) -> bool:
    """Go's: false, 0, nil and empty strings, lists and maps are false."""
    return bool(value)


def to_json(value: Any) -> str:
    """Docker's `json`: Go's encoding (compact, UTF-8, `<>&` as they are)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)  # a missing key is the zero value, as in Go
        elif isinstance(value, list | str) and isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(value):
                raise TemplateError(f"index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"can't index {plain(value)!r} with {plain(key)!r}")
    return value


def length(value: Any) -> int:
    if isinstance(value, dict | list | str):
        return len(value)
    raise TemplateError(f"len of {plain(value)!r}")


def sprint(*args: Any) -> str:
    """Go's fmt.Sprint: a space between two operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += plain(arg)
    return out


_VERB = re.compile(r"%([-+ #0]*)(\d+)?(?:\.(\d+))?([vsdqtxXfeg%])")


def sprintf(layout: str, *args: Any) -> str:
    """Go's fmt.Sprintf for the verbs scripts use: %v %s %d %q %t %x %X %f %e %g, with flags
    `-+ 0`, width and precision; `%!d(MISSING)` for a missing operand and `%!d(x)` for a wrong
    one, as Go prints them."""
    operands = iter(args)

    def one(match: re.Match[str]) -> str:
        flags, width, precision, verb = match.groups()
        if verb == "%":
            return "%"
        arg = next(operands, _NOTHING)
        if arg is _NOTHING:
            return f"%!{verb}(MISSING)"
        number = isinstance(arg, int | float) and not isinstance(arg, bool)
        if verb in "vstq" or (verb == "x" and not number):
            text = plain(arg) if verb != "q" else json.dumps(plain(arg), ensure_ascii=False)
            if verb == "x":
                text = text.encode().hex()
            return format(text, _spec(flags, width, precision, number=False))
        if not number or (verb == "d" and isinstance(arg, float)):
            return f"%!{verb}({plain(arg)})"
        return format(
            arg, _spec(flags, width, precision, number=True) + ("" if verb == "d" else verb)
        )

    return _VERB.sub(one, layout)


def _spec(flags: str, width: str | None, precision: str | None, *, number: bool) -> str:
    """Go's flags as Python's format spec: Go pads on the left unless `-`, strings included."""
    align = "<" if "-" in flags else ">"
    sign = ("+" if "+" in flags else " " if " " in flags else "") if number else ""
    zero = "0" if number and "0" in flags and "-" not in flags else ""
    fill_align = "" if zero else align
    return fill_align + sign + zero + (width or "") + (f".{precision}" if precision else "")


def equal(first: Any, *others: Any) -> bool:
    """Go's `eq`: true if the first equals any of the others."""
    if not others:
        raise TemplateError("eq needs at least two arguments")
    return any(first == other for other in others)


def _compare(check: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return check(a, b)
        except TypeError as err:
            raise TemplateError(f"can't compare {plain(a)!r} and {plain(b)!r}") from err

    return compare


def first_false(first: Any, *others: Any) -> Any:
    """Go's `and`: the first false argument, or the last."""
    args = (first, *others)
    return next((a for a in args if not truth(a)), args[-1])


def first_true(first: Any, *others: Any) -> Any:
    """Go's `or`: the first true argument, or the last."""
    args = (first, *others)
    return next((a for a in args if truth(a)), args[-1])


def pad(text: Any, left: int, right: int) -> str:
    """Docker's `pad`: spaces on either side."""
    return " " * left + plain(text) + " " * right


def truncate(text: Any, width: int) -> str:
    """Docker's `truncate`: at most `width` characters."""
    return plain(text)[:width]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Go's text/template built-ins
    "and": first_false,
    "or": first_true,
    "not": lambda value: not truth(value),
    "len": length,
    "index": index,
    "print": sprint,
    "printf": sprintf,
    "println": lambda *args: " ".join(plain(a) for a in args) + "\n",
    "eq": equal,
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    # Docker CLI's additions (docker/cli templates.basicFunctions)
    "json": to_json,
    "join": lambda items, sep: sep.join(plain(i) for i in items),
    "split": lambda text, sep: text.split(sep),
    "lower": lambda text: plain(text).lower(),
    "upper": lambda text: plain(text).upper(),
    "title": lambda text: " ".join(w[:1].upper() + w[1:] for w in plain(text).split(" ")),
    "pad": pad,
    "truncate": truncate,
}

# In a table's header row Docker's functions give back the column name they are given
# (docker/cli templates.HeaderFunctions): `{{truncate .Names 3}}` heads its column NAMES.
HEADER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: lambda text, *_: text
    for name in ("json", "split", "join", "title", "lower", "upper", "pad", "truncate")
}
