"""Templating: extraction, lint, rendering, and the sandbox (property tests with hypothesis)."""
from __future__ import annotations

import keyword

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmgr import templating
from promptmgr.errors import TemplateError, ValidationError

identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and s not in {"true", "false", "none", "True", "False", "None",
                                                      "loop", "range", "dict", "lipsum", "cycler", "joiner",
                                                      "namespace", "self", "varargs", "kwargs", "caller",
                                                      "and", "or", "not", "in", "is", "if", "else"})
# Plain text without template syntax characters.
plain = st.text(alphabet=st.characters(blacklist_characters="{}%#", blacklist_categories=("Cs",)), max_size=30)


@given(names=st.lists(identifiers, min_size=0, max_size=6, unique=True), fillers=st.lists(plain, min_size=7, max_size=7))
def test_extraction_finds_exactly_the_variables_used(names, fillers):
    text = fillers[0] + "".join(f"{{{{ {name} }}}}{fillers[i + 1]}" for i, name in enumerate(names))
    assert templating.extract_variables(text) == names


@given(name=identifiers, loop_var=identifiers)
def test_loop_variables_are_not_reported(name, loop_var):
    if name == loop_var:
        return
    text = f"{{% for {loop_var} in {name} %}}{{{{ {loop_var} }}}}{{% endfor %}}"
    assert templating.extract_variables(text) == [name]


@given(values=st.dictionaries(identifiers, st.text(max_size=40), min_size=1, max_size=5))
def test_render_substitutes_values_verbatim(values):
    text = " | ".join(f"{{{{ {name} }}}}" for name in values)
    rendered = templating.render_text(text, values)
    assert rendered == " | ".join(values.values())


ATTACKS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
    "{{ lipsum.__globals__['os'].system('echo pwned') }}",
    "{{ self._TemplateReference__context }}",
    "{{ x.__init__.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ x.append(1) }}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_sandbox_refuses_access_to_python_internals(attack, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    with pytest.raises((TemplateError, ValidationError)):
        templating.render_text(attack.replace("echo pwned", f"touch {marker}"), {"x": []})
    assert not marker.exists()


@settings(max_examples=50)
@given(source=st.text(alphabet="{}%#._()[]'\"abcx_ =|+-*/0123456789", max_size=60))
def test_rendering_arbitrary_input_never_executes_host_code(source):
    """Whatever the text, rendering gives plain text or raises our error with a message; no other
    exception and no Python object escapes."""
    try:
        rendered = templating.render_text(source, {"x": "v", "a": [1, 2], "b": {"k": 1}, "c": 3})
    except (TemplateError, ValidationError) as exc:
        message = exc.translate("en")
        assert message.strip() and "Traceback" not in message
        return
    assert isinstance(rendered, str)
    assert not any(leak in rendered for leak in ("<class ", "<function ", "<built-in ", "<bound method ", "<module "))


def test_file_and_network_access_are_impossible():
    for source in ["{% include '/etc/passwd' %}", "{% import 'os' as os %}", "{% extends '/etc/hosts' %}"]:
        with pytest.raises(TemplateError):
            templating.render_text(source, {})


def test_conditionals_and_loops_render():
    text = "{% if formal %}Dear{% else %}Hi{% endif %} {{ name }}:{% for i in items %} [{{ i }}]{% endfor %}"
    assert templating.render_text(text, {"formal": True, "name": "Ann", "items": ["a", "b"]}) == "Dear Ann: [a] [b]"


def test_missing_required_variable_names_it():
    with pytest.raises(ValidationError) as err:
        templating.render("Hello {{ name }} from {{ city }}", None, [], {"name": "A"})
    assert err.value.params == {"name": "city"}
    assert "city" in err.value.translate("en")


def test_defaults_types_and_optional_variables():
    declared = [{"name": "n", "type": "integer", "default": 3}, {"name": "flag", "type": "boolean"},
                {"name": "extra", "required": False}]
    text, _ = templating.render("{{ n + 1 }} {{ 'yes' if flag else 'no' }} [{{ extra }}]", None, declared,
                                {"flag": "false"})
    assert text == "4 no []"
    with pytest.raises(ValidationError) as err:
        templating.render("{{ n }}", None, [{"name": "n", "type": "integer"}], {"n": "abc"})
    assert err.value.message_key == "errors.bad_variable_value"


def test_lint_reports_syntax_errors_with_line_numbers():
    issues = templating.lint(["line one\nline two {{ broken \nline three"])
    assert issues[0].kind == "syntax" and issues[0].line in (2, 3)


def test_lint_reports_undeclared_and_unused():
    issues = templating.lint(["{{ a }} {{ b }}"], [{"name": "a"}, {"name": "c"}])
    kinds = {(i.kind, i.params["name"]) for i in issues}
    assert kinds == {("undeclared", "b"), ("unused", "c")}


def test_chat_prompts_render_every_text_part_and_keep_images():
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "You are {{ role }}."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe {{ thing }}"},
                                     {"type": "image", "url": "https://example.com/a.png"}]},
    ]
    _, rendered = templating.render(None, messages, None, {"role": "a critic", "thing": "this"})
    assert rendered[0]["content"][0]["text"] == "You are a critic."
    assert rendered[1]["content"][0]["text"] == "Describe this"
    assert rendered[1]["content"][1] == {"type": "image", "url": "https://example.com/a.png"}
    assert messages[0]["content"][0]["text"] == "You are {{ role }}."  # the source is untouched


def test_bad_declarations_are_rejected():
    with pytest.raises(ValidationError):
        templating.normalize_declarations([{"name": "1bad"}])
    with pytest.raises(ValidationError):
        templating.normalize_declarations([{"name": "a", "type": "date"}])
    with pytest.raises(ValidationError):
        templating.normalize_declarations([{"name": "a"}, {"name": "a"}])
