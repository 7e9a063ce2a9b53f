"""`--format` / `-f` templates: the Go template forms Docker users type, and a clear refusal of
the rest (cli/output.py `render_template`)."""

from __future__ import annotations

from typing import Any

import pytest

from dockline.cli.output import render_template
from dockline.errors import InvalidArgument

INSPECT: dict[str, Any] = {
    "Name": "/web",
    "State": {"Running": True, "Pid": 42, "Error": None},
    "Config": {"Env": ["A=1", "B=2"]},
    "NetworkSettings": {
        "IPAddress": "172.17.0.2",
        "Networks": {
            "net2": {"IPAddress": "10.0.0.5", "Aliases": ["x", "y"]},
            "bridge": {"IPAddress": "172.17.0.2", "Aliases": []},
        },
    },
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}}", "/web"),
        ("{{ .State.Pid }} {{.State.Running}}", "42 true"),  # Go prints bools lower-case
        ("{{.State.Error}}", ""),
        ("{{json .State}}", '{"Running": true, "Pid": 42, "Error": null}'),
        ("{{json .Config.Env}}", '["A=1", "B=2"]'),
        ("plain text", "plain text"),
        # Docker's own documented way to get a container's address:
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "172.17.0.210.0.0.5"),
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", "172.17.0.2 10.0.0.5 "),
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
        ("{{range .NetworkSettings.Networks}}{{range .Aliases}}{{.}},{{end}}{{end}}", "x,y,"),
        ("{{range .State.Error}}never{{end}}", ""),  # nil ranges over nothing, as in Go
        ("{{.}}", '{"a": 1}'),
    ],
)
def test_renders(template: str, expected: str) -> None:
    value = {"a": 1} if template == "{{.}}" else INSPECT
    assert render_template(template, value) == expected


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{.Bogus}}", "no field 'Bogus'"),
        ("{{", "only {{.Field.Path}}"),
        ("{{.Name", "only {{.Field.Path}}"),
        ("{{range .Config.Env}}{{.}}", "only {{.Field.Path}}"),  # no {{end}}
        ("{{end}}", "only {{.Field.Path}}"),  # no range to end
        ("{{index .Config.Env 0}}", "only {{.Field.Path}}"),
        ("{{.Name | printf}}", "only {{.Field.Path}}"),
        ("{{..Name}}", "only {{.Field.Path}}"),
        ("{{range .Name}}x{{end}}", "range over .Name: not a list or map"),
    ],
)
def test_refuses_with_the_template_named(template: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        render_template(template, INSPECT)
    assert repr(template) in str(caught.value) and why in str(caught.value)
