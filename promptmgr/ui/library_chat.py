"""The chat messages editor of the Library tab: a list of messages and an editor for the selected
one (role, text, images by URL or upload), with add, remove and move up/down.

The messages live in a gr.State in the stored format ({"role", "content": [parts]}); every edit
updates it at once, so nothing typed is lost when another control is used."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from .common import UI, choices, text

ROLES = ("system", "user", "assistant")
_PREVIEW = 80


def split_message(message: dict) -> tuple[str, str, list[str]]:
    """A stored message as (role, text, image urls); several text parts are joined by a blank line."""
    texts = [p.get("text", "") for p in message.get("content", []) if p.get("type") == "text"]
    images = [p.get("url", "") for p in message.get("content", []) if p.get("type") == "image"]
    return message.get("role", "user"), "\n\n".join(texts), images


def join_message(role: str, body: str, images: list[str]) -> dict:
    parts = [{"type": "text", "text": body}] if body or not images else []
    return {"role": role, "content": parts + [{"type": "image", "url": url} for url in images]}


def image_lines(value: str | None) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


class ChatEditor:
    """Components and handlers of the messages editor; `fill(messages)` loads a prompt's messages."""

    def __init__(self, ui: UI):
        self.ui = ui
        self.messages = gr.State([])
        self.selected = gr.State(0)
        with gr.Group(visible=False) as self.group:
            self.table = ui.tr(gr.Dataframe(
                headers=self._headers("en"), datatype=["number", "str", "str", "number"], interactive=False,
                column_widths=["8%", "18%", "60%", "14%"], max_height=260, elem_id="pm-chat-list",
                label=text("ui.library.chat.messages")), label="ui.library.chat.messages")
            with gr.Row():
                self.role = ui.tr(gr.Dropdown(choices(
                    "en", [(f"ui.library.chat.role_{r}", r) for r in ROLES]), value="system", scale=1,
                    label=text("ui.library.chat.role"), elem_id="pm-chat-role"),
                    label="ui.library.chat.role", choices=",".join(f"ui.library.chat.role_{r}={r}" for r in ROLES))
                self.add = ui.tr(gr.Button(text("ui.library.chat.add"), size="sm", scale=0, min_width=90),
                                 value="ui.library.chat.add")
                self.up = ui.tr(gr.Button(text("ui.library.chat.up"), size="sm", scale=0, min_width=70),
                                value="ui.library.chat.up")
                self.down = ui.tr(gr.Button(text("ui.library.chat.down"), size="sm", scale=0, min_width=70),
                                  value="ui.library.chat.down")
                self.remove = ui.tr(gr.Button(text("ui.library.chat.remove"), size="sm", variant="stop", scale=0,
                                              min_width=90), value="ui.library.chat.remove")
            self.body = ui.tr(gr.Textbox(lines=6, max_lines=30, label=text("ui.library.chat.text"),
                                         elem_id="pm-chat-text"), label="ui.library.chat.text")
            with gr.Row():
                self.images = ui.tr(gr.Textbox(lines=2, max_lines=8, scale=4, label=text("ui.library.chat.images"),
                                               info=text("ui.library.chat.images_info"), elem_id="pm-chat-images"),
                                    label="ui.library.chat.images", info="ui.library.chat.images_info")
                self.upload = ui.tr(gr.UploadButton(text("ui.library.chat.upload"), file_types=["image"],
                                                    size="sm", scale=1, elem_id="pm-chat-upload"),
                                    label="ui.library.chat.upload")

    @property
    def detail(self) -> list:
        return [self.role, self.body, self.images]

    @property
    def outputs(self) -> list:
        return [self.messages, self.selected, self.table, *self.detail]

    @staticmethod
    def _headers(locale: str) -> list[str]:
        return [text(f"ui.library.chat.col_{c}", locale) for c in ("n", "role", "text", "images")]

    def _table(self, locale: str, messages: list[dict]) -> dict:
        rows = []
        for i, message in enumerate(messages):
            role, body, images = split_message(message)
            preview = body.replace("\n", " ")
            rows.append([i + 1, text(f"ui.library.chat.role_{role}", locale),
                         preview[:_PREVIEW] + ("…" if len(preview) > _PREVIEW else ""), len(images)])
        return {"data": rows, "headers": self._headers(locale)}

    def fill(self, locale: str, messages: list[dict], selected: int = 0) -> dict:
        """Updates that show `messages` with message `selected` in the editor."""
        selected = max(0, min(selected, len(messages) - 1)) if messages else 0
        role, body, images = split_message(messages[selected]) if messages else ("user", "", [])
        has = bool(messages)
        return {
            self.messages: messages, self.selected: selected, self.table: self._table(locale, messages),
            self.role: gr.update(value=role, interactive=has), self.body: gr.update(value=body, interactive=has),
            self.images: gr.update(value="\n".join(images), interactive=has),
        }

    # --- wiring ----------------------------------------------------------------------------
    def wire(self, after_change, status: dict) -> None:
        """Connect the controls; `after_change(event)` chains what must follow a change of the
        messages (the live variables and token count); `status` routes progress and errors to the
        editor's status line."""
        ui, locale = self.ui, self.ui.locale

        @ui.handler
        def select(ctx, messages, evt: gr.SelectData):
            return self.fill(ctx.locale, messages, evt.index[0] if evt.index else 0)

        @ui.handler
        def edit(ctx, messages, selected, role, body, images):
            if not messages:
                return {}
            messages = list(messages)
            messages[selected] = join_message(role or "user", body or "", image_lines(images))
            return {self.messages: messages, self.table: self._table(ctx.locale, messages)}

        @ui.handler
        def add(ctx, messages, selected):
            messages = list(messages)
            previous = messages[selected]["role"] if messages else "assistant"
            role = "assistant" if previous == "user" else "user"
            position = selected + 1 if messages else 0
            messages.insert(position, join_message(role, "", []))
            return self.fill(ctx.locale, messages, position)

        @ui.handler
        def remove(ctx, messages, selected):
            if not messages:
                return {}
            messages = list(messages)
            del messages[selected]
            return self.fill(ctx.locale, messages, selected)

        def mover(step: int):
            @ui.handler
            def move(ctx, messages, selected):
                target = selected + step
                if not messages or not 0 <= target < len(messages):
                    return {}
                messages = list(messages)
                messages[selected], messages[target] = messages[target], messages[selected]
                return self.fill(ctx.locale, messages, target)
            return move

        @ui.handler
        def upload(ctx, messages, selected, images, file):
            if not messages or file is None:
                return {}
            # Checked by content, stored privately under the caller's tenant (FileService).
            reference = ui.services.files.store_image(ctx, Path(file).name, Path(file).read_bytes())
            urls = image_lines(images) + [reference]
            role, body, _ = split_message(messages[selected])
            messages = list(messages)
            messages[selected] = join_message(role, body, urls)
            gr.Info(text("ui.library.chat.uploaded", ctx.locale, reference=reference))
            return {self.messages: messages, self.table: self._table(ctx.locale, messages),
                    self.images: "\n".join(urls)}

        state = [self.messages, self.selected]
        self.table.select(select, [locale, self.messages], self.outputs, **status)
        for component in self.detail:
            after_change(component.input(edit, [locale, *state, *self.detail], [self.messages, self.table],
                                         trigger_mode="always_last", show_progress="hidden"))
        after_change(self.add.click(add, [locale, *state], self.outputs, **status))
        after_change(self.remove.click(remove, [locale, *state], self.outputs, **status))
        after_change(self.up.click(mover(-1), [locale, *state], self.outputs, **status))
        after_change(self.down.click(mover(1), [locale, *state], self.outputs, **status))
        after_change(self.upload.upload(upload, [locale, *state, self.images, self.upload],
                                        [self.messages, self.table, self.images], **status))
        ui.on_locale_change(ui.handler(lambda ctx, messages: {self.table: self._table(ctx.locale, messages)}),
                            [self.messages], [self.table])
