#!/usr/bin/python3
"""Renders every case of cases.json (beside this script) with Python's Jinja2 set up as Hugging Face
transformers sets it up for apply_chat_template (transformers/utils/chat_template_utils.py:
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension,
a tojson filter that neither escapes HTML nor sorts keys, raise_exception and strftime_now
globals), and writes the strings (or the error message) to expected.json beside it.
ChatTemplateTableTest compares onnx-steer's jinjava rendering with that file byte for byte.

Run from the repository root after changing a template or a case (Debian: python3-jinja2):
    /usr/bin/python3 testdata/chat-templates/render_expected.py
"""
import json
import pathlib
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).resolve().parent


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    cases = json.loads((HERE / "cases.json").read_text(encoding="utf-8"))
    env = environment()
    out = []
    for case in cases:
        source = (HERE / case["template"]).read_text(encoding="utf-8")
        variables = dict(case.get("variables", {}))
        variables["messages"] = case["messages"]
        variables["add_generation_prompt"] = case["add_generation_prompt"]
        variables.setdefault("tools", None)
        result = {"name": case["name"]}
        try:
            result["expected"] = env.from_string(source).render(**variables)
        except TemplateError as e:
            result["error"] = str(e)
        out.append(result)
    text = json.dumps({"jinja2": jinja2.__version__, "cases": out}, ensure_ascii=False, indent=1) + "\n"
    (HERE / "expected.json").write_text(text, encoding="utf-8")
    print(f"wrote {len(out)} cases with Jinja2 {jinja2.__version__}")


if __name__ == "__main__":
    main()
