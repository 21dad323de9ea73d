"""What a person sees after an action: a field is visible, enabled, editable, not covered by
anything (Gradio's red error status), and keeps what was typed."""
from __future__ import annotations

from playwright.sync_api import expect

WAIT = 30_000

# True when the element at the centre of the field is the field itself (or inside it): nothing
# such as Gradio's error status lies over it.
_ON_TOP = """el => {
  el.scrollIntoView({block: "center"});
  const box = el.getBoundingClientRect();
  const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return top !== null && (top === el || el.contains(top));
}"""


def assert_usable(page, elem_id: str, value: str | None = None) -> None:
    """The textbox (input, textarea or code editor) of component #elem_id can be seen, reached
    and typed into; with `value`, it still shows that text."""
    field = page.locator(f"#{elem_id}").locator("textarea, input, .cm-content").first
    expect(field).to_be_visible(timeout=WAIT)
    expect(field).to_be_enabled(timeout=WAIT)
    expect(field).to_be_editable(timeout=WAIT)
    if value is not None:
        expect(field).to_have_value(value, timeout=WAIT)
    assert field.evaluate(_ON_TOP), f"#{elem_id} is covered by another element"


def assert_no_error_status(page) -> None:
    """No component shows Gradio's red "Error" status (it covers the component it sits on)."""
    expect(page.locator(".wrap span.error:visible")).to_have_count(0, timeout=WAIT)


def assert_retypes(page, elem_id: str, new_value: str) -> None:
    """The field takes new text after an error."""
    field = page.locator(f"#{elem_id}").locator("textarea, input").first
    field.fill(new_value)
    expect(field).to_have_value(new_value, timeout=WAIT)
