"""`--format` / `-f` templates: Go's text/template as Docker users type it (cli/templates.py),
list output as Docker prints it (cli/output.py `print_listing`), and a clear refusal of the rest.

Expected outputs are what Go's text/template and Docker's CLI print for the same template over
the same data (maps and lists excepted: printed as JSON, see cli/templates.py)."""

from __future__ import annotations

from typing import Any

import pytest

from dockline.cli.output import print_listing, print_table, render_template
from dockline.cli.templates import FUNCTIONS
from dockline.errors import InvalidArgument

INSPECT: dict[str, Any] = {
    "Name": "/web",
    "State": {"Running": True, "Pid": 42, "Error": None, "Status": "running"},
    "Config": {"Env": ["A=1", "B=2"], "Cmd": ["sleep", "300"]},
    "NetworkSettings": {
        "IPAddress": "172.17.0.2",
        "Networks": {
            "net2": {"IPAddress": "10.0.0.5", "Aliases": ["x", "y"]},
            "bridge": {"IPAddress": "172.17.0.2", "Aliases": []},
        },
    },
}
NETS = ".NetworkSettings.Networks"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}}", "/web"),
        ("{{ .State.Pid }} {{.State.Running}}", "42 true"),  # Go prints bools lower-case
        ("{{.State.Error}}", ""),
        ("plain text", "plain text"),
        ("{{.}}", '{"a": 1}'),
        # json: Go's encoding, compact
        ("{{json .State}}", '{"Running":true,"Pid":42,"Error":null,"Status":"running"}'),
        ("{{json .Config.Env}}", '["A=1","B=2"]'),
        ("{{.Config.Env | json}}", '["A=1","B=2"]'),
        # Docker's own documented ways to get a container's address
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "172.17.0.210.0.0.5"),
        (f'{{{{(index {NETS} "net2").IPAddress}}}}', "10.0.0.5"),
        (f"{{{{{NETS}.bridge.IPAddress}}}}", "172.17.0.2"),
        (f"{{{{range $name, $net := {NETS}}}}}{{{{$name}}}}={{{{$net.IPAddress}}}} {{{{end}}}}",
         "bridge=172.17.0.2 net2=10.0.0.5 "),
        # range: lists, maps in key order, nesting, else, nil, $ inside
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
        (f"{{{{range {NETS}}}}}{{{{range .Aliases}}}}{{{{.}}}},{{{{end}}}}{{{{end}}}}", "x,y,"),
        ("{{range .State.Error}}never{{end}}", ""),  # nil ranges over nothing, as in Go
        (f"{{{{range {NETS}.bridge.Aliases}}}}a{{{{else}}}}none{{{{end}}}}", "none"),
        ("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", "0:A=1 1:B=2 "),
        ("{{range .Config.Env}}{{$.Name}}{{end}}", "/web/web"),
        # if / else if / else, with, and truth as Go's
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .State.Error}}e{{else if eq .State.Pid 42}}pid{{else}}no{{end}}", "pid"),
        ("{{if not .Config.Env}}empty{{else}}{{len .Config.Env}}{{end}}", "2"),
        ("{{if and .State.Running (gt .State.Pid 1)}}ok{{end}}", "ok"),
        ("{{if or .State.Error 0 \"\"}}t{{else}}f{{end}}", "f"),
        ("{{with .State}}{{.Status}}{{end}}", "running"),
        ("{{with .State.Error}}x{{else}}no error{{end}}", "no error"),
        # variables, comments, trim markers, literals
        ("{{$p := .State.Pid}}{{$p}}{{$p = 7}} {{$p}}", "42 7"),
        ("a {{/* a comment */}}b", "a b"),
        ("a  {{- .Name -}}  b", "a/webb"),
        ("{{- /* trimmed */ -}}  x", "x"),
        ('{{"q\\"\\t"}}{{`raw\\n`}}{{1}}{{true}}', 'q"\traw\\n1true'),
        # functions: Go's and Docker's
        ('{{index .Config.Env 1}} {{index .State "Pid"}}', "B=2 42"),
        ('{{index .State "Missing"}}', ""),  # a missing map key is nil, as in Go
        ('{{join .Config.Cmd " "}}', "sleep 300"),
        ('{{split "a,b" ","}}', '["a", "b"]'),
        ("{{upper .State.Status}} {{lower .Name}} {{title \"ab cd\"}}", "RUNNING /web Ab Cd"),
        ("{{pad .State.Pid 1 2}}|{{truncate .Name 2}}", " 42  |/w"),
        ('{{printf "%s has pid %d" .Name .State.Pid}}', "/web has pid 42"),
        ('{{printf "%-6s|%5s|%05d|%+d|%.2f|%x|%q|%v|%%"  "ab" "cd" 42 3 2.5 255 "q" true}}',
         'ab    |   cd|00042|+3|2.50|ff|"q"|true|%'),
        ('{{printf "%d %s"  "x"}}', "%!d(x) %!s(MISSING)"),
        ("{{.Name | printf \"%s!\"}}", "/web!"),
        ('{{print 1 2 "a" 3}}|{{println "a" 1}}', "1 2a3|a 1\n"),
        ('{{eq .Name "/x" "/web"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{ge 1 2}}',
         "true true true true false"),
    ],
)  # fmt: skip
def test_renders_as_go_and_docker_do(template: str, expected: str) -> None:
    value = {"a": 1} if template == "{{.}}" else INSPECT
    assert render_template(template, value) == expected


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{.Bogus}}", "no field 'Bogus'"),
        ("{{.State.Error.X}}", "nil pointer evaluating .X"),
        ("{{", "unclosed action"),
        ("{{.Name", "unclosed action"),
        ("{{range .Config.Env}}{{.}}", "missing {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{if}}x{{end}}", "missing value for if"),
        ("{{if .Name}}a{{else}}b{{else}}c{{end}}", "expected {{end}} after {{else}}"),
        ("{{bogus .Name}}", "function 'bogus' not defined"),
        ("{{.Name 1}}", "can't give arguments"),
        ('{{"a" | .Name}}', "can't pipe a value"),
        ("{{(.Name}}", "unclosed '('"),
        ("{{$nope}}", "undefined variable $nope"),
        ("{{range $i, $e := .Config.Env}}{{end}}{{$e}}", "undefined variable $e"),  # scoped
        ("{{index .Config.Env 5}}", "index out of range: 5"),
        ("{{len .State.Pid}}", "len of '42'"),
        ('{{lt 1 "a"}}', "can't compare"),
        ("{{join 1}}", "wrong number or type of arguments for join"),
        ('{{template "x"}}', "{{template}} is not supported"),
        ("{{range .Name}}x{{end}}", "range can't iterate over /web"),
        ("{{/* open", "unclosed comment"),
        ("{{.Name ^}}", "unexpected '^'"),
        ('{{"\\q"}}', "unknown escape"),
        ("{{and}}", "wrong number or type of arguments for and"),
        ("{{len index}}", "wrong number or type of arguments for index"),  # called with none
        ("{{split 3.5 1}}", "wrong number or type of arguments for split"),
        ("{{" + "(" * 2000 + ".Name" + ")" * 2000 + "}}", "nested too deeply"),
    ],
)
def test_refuses_with_the_template_named(template: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        render_template(template, INSPECT)
    assert repr(template) in str(caught.value) and why in str(caught.value)


ROWS = [
    {"ID": "0123456789ab", "Names": "web", "Status": "Up 2 seconds"},
    {"ID": "ba9876543210", "Names": "a-much-longer-name", "Status": "Exited (0) 1 second ago"},
]
HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Status": "STATUS"}


def listing(capsys: pytest.CaptureFixture[str], fmt: str) -> list[str]:
    print_listing(ROWS, fmt, HEADERS, ("ID", "Names", "Status"))
    return capsys.readouterr().out.splitlines()


def test_default_table_pads_columns_as_docker(capsys: pytest.CaptureFixture[str]) -> None:
    assert listing(capsys, "table") == [
        "CONTAINER ID   NAMES                STATUS",
        "0123456789ab   web                  Up 2 seconds",
        "ba9876543210   a-much-longer-name   Exited (0) 1 second ago",
    ]


def test_table_template_has_a_header_and_aligns_at_tabs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `\t` as the shell passes it: a backslash and a t, which Docker reads as a tab
    assert listing(capsys, "table {{.Names}}\\t{{.Status}}") == [
        "NAMES                STATUS",
        "web                  Up 2 seconds",
        "a-much-longer-name   Exited (0) 1 second ago",
    ]
    # short columns are ten wide, as Go's tabwriter makes them for Docker
    assert listing(capsys, "table {{truncate .Names 3}}\\t{{.ID}}")[:2] == [
        "NAMES     CONTAINER ID",  # the header is the template applied to the column names
        "web       0123456789ab",
    ]


def test_plain_template_is_a_line_per_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert listing(capsys, "{{.Names}}\\t{{.ID}}") == ["web\t0123456789ab", "a-much-longer-name\tba9876543210"]  # fmt: skip
    assert listing(capsys, '{{json .}}')[0] == '{"ID":"0123456789ab","Names":"web","Status":"Up 2 seconds"}'  # fmt: skip


def test_json_is_an_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert listing(capsys, "json")[1].startswith('{"ID": "ba9876543210"')


def test_a_bad_list_template_names_itself_and_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(InvalidArgument, match="no field 'Bogus'"):
        listing(capsys, "table {{.Names}}\\t{{.Bogus}}")
    assert capsys.readouterr().out == ""


def test_print_table_last_column_is_not_padded(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["A", "B"], [["x", ""]])
    assert capsys.readouterr().out.splitlines() == ["A         B", "x"]


def test_any_template_renders_or_fails_with_one_clear_error() -> None:
    """Random templates from the language's pieces: each renders, or is refused with
    InvalidArgument; never another exception (a traceback for the user)."""
    import random

    pieces = ["{{", "}}", "{{- ", " -}}", ".Name", ".State", ".Config.Env", "$", "$x", ":=", "=",
              "(", ")", "|", ",", "range", "if", "else", "end", "with", "/*", "*/", '"%d %-5.2f %q"',
              "`r`", "1", "-2", "3.5", "true", "nil", " ", *sorted(FUNCTIONS)]  # fmt: skip
    rng = random.Random(20261128)
    outcomes = {"rendered": 0, "refused": 0}
    for _ in range(3000):
        template = "".join(rng.choice(pieces) + rng.choice(("", " ")) for _ in range(12))
        try:
            render_template(template, INSPECT)
            outcomes["rendered"] += 1
        except InvalidArgument:
            outcomes["refused"] += 1
    assert min(outcomes.values()) > 100, outcomes  # both kinds were exercised
