"""ui.handler: every Gradio handler acts as the caller of its own request (UI.caller, resolved from
gr.Request), also when it is called by name through the HTTP API (gradio_client) instead of the
page; Gradio's own special parameters still reach the handler; errors are one translated line."""
from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client

from promptmgr.errors import NotFoundError
from promptmgr.ui.common import UI
from tests.live_server import free_port


class RecordingUI(UI):
    """The real UI.caller, with a note of every request it resolved."""

    def __init__(self, *args):
        super().__init__(*args)
        self.requests: list = []

    def caller(self, request, locale=None):
        self.requests.append(request)
        return super().caller(request, locale)


@pytest.fixture
def served(services, ctx):
    ui = RecordingUI(services, ctx)
    with gr.Blocks() as demo:
        ui.locale = gr.State(None)
        name = gr.Textbox()
        out = gr.Textbox()
        ask = gr.Button()

        @ui.handler
        def whoami(ctx, value, progress=gr.Progress()):
            progress(0.5)  # Gradio injected its Progress: fn's own special parameters survive the wrapper
            return f"{ctx.tenant_id}:{ctx.user_id}:{ctx.locale}:{value}"

        @ui.handler
        def missing(ctx, value):
            raise NotFoundError(what="prompt", name=value)

        @ui.handler
        def nothing(ctx, value):
            return {}

        ask.click(whoami, [ui.locale, name], [out], api_name="whoami")
        ask.click(missing, [ui.locale, name], [out], api_name="missing")
        ask.click(nothing, [ui.locale, name], [out, name], api_name="nothing")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield ui, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_a_handler_called_by_name_acts_as_the_caller_of_its_request(served, ctx):
    ui, url = served
    client = Client(url, headers={"Accept-Language": "de-DE,de;q=0.9", "X-Probe": "api-call"}, verbose=False)
    assert client.predict("hello", api_name="/whoami") == f"{ctx.tenant_id}:{ctx.user_id}:de:hello"
    request = ui.requests[-1]
    assert isinstance(request, gr.Request)
    assert request.headers.get("x-probe") == "api-call"


def test_errors_reach_an_api_caller_as_one_translated_line(served):
    _ui, url = served
    client = Client(url, headers={"Accept-Language": "fr"}, verbose=False)
    with pytest.raises(Exception) as raised:
        client.predict("ghost", api_name="/missing")
    assert NotFoundError(what="prompt", name="ghost").translate("fr") in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_a_handler_that_updates_nothing_leaves_every_output_alone(served):
    _ui, url = served
    client = Client(url, verbose=False)
    # Gradio fails on an empty dict for several outputs ("Number of output components does not match");
    # the wrapper turns it into "skip every output".
    client.predict("kept", api_name="/nothing")


def test_no_message_the_web_page_shows_sends_people_to_the_cli():
    """Service messages written for the terminal get UI wording (ui.common.UI_WORDING)."""
    import yaml

    from promptmgr.errors import PromptMgrError
    from promptmgr.i18n import LOCALES_DIR, SUPPORTED_LOCALES
    from promptmgr.ui.common import UI_WORDING, ui_message

    def flat(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    cli_worded = set()
    for path in sorted(LOCALES_DIR.glob("*.en.yml")):
        namespace = path.name.split(".")[0]
        if namespace.startswith(("cli", "ui", "exposure")):
            continue  # the CLI's own texts (exposure: refused at launch, before any page); the UI's texts
        for key, value in flat(yaml.safe_load(path.read_text(encoding="utf-8")), f"{namespace}."):
            if ".cli." in key:
                continue  # a namespace's `cli` part holds its terminal-only texts
            if "`promptmgr " in value or "--" in value:
                cli_worded.add(key)
    assert cli_worded, "the scan found nothing: the check would prove nothing"
    assert cli_worded <= set(UI_WORDING), f"give these UI wording: {sorted(cli_worded - set(UI_WORDING))}"
    for key in UI_WORDING:
        for locale in SUPPORTED_LOCALES:
            shown = ui_message(PromptMgrError(key, name="x", model="m"), locale)
            assert "promptmgr " not in shown and "--" not in shown, (key, locale, shown)
