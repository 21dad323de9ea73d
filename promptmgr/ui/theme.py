"""Look of the app: the Gradio theme (system fonts only: a Google font would make the browser
leave loopback), a little CSS, and the js step that applies language direction and light/dark."""
from __future__ import annotations

import json

import gradio as gr

from ..i18n import RTL_LOCALES

THEMES = ("system", "light", "dark")


def make_theme() -> gr.themes.Base:
    return gr.themes.Default(
        primary_hue="indigo", secondary_hue="slate", neutral_hue="slate", radius_size="md",
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"],
    )


CSS = """
#pm-header { align-items: center; }
#pm-header h1 { margin: 0; font-size: 1.5rem; }
#pm-page-info { text-align: center; }
#pm-page-info p { margin: 0; }
#pm-editor-header p { margin: 0; }
#pm-tokens { align-self: center; }
#testing-diff { max-height: 28rem; overflow-y: auto; }
.pm-status { min-height: 2.2em; }
#pm-table td, #pm-table th { overflow-wrap: break-word; }
/* Gradio marks every Markdown block dir="ltr": in a right-to-left page its sentences would be
   laid out backwards. Code keeps reading left to right. */
html[dir="rtl"] .block[dir="ltr"], html[dir="rtl"] .prose[dir="ltr"], html[dir="rtl"] .md {
  direction: rtl; text-align: start; }
html[dir="rtl"] .prose pre, html[dir="rtl"] .prose code { direction: ltr; }
html[dir="rtl"] #pm-page-info .md { text-align: center; }
.pm-status p { margin: 0; }
/* Hosted mode's account row: the buttons keep their own height next to the workspace picker. */
#pm-account { align-items: center; }
#pm-account button { align-self: center; }
"""

# Runs in the browser after the language or theme is known: `dir`/`lang` on the document (Arabic
# reads right to left) and the saved light/dark choice, unless ?__theme= in the URL decides.
PAGE_JS = f"""(locale, theme) => {{
  const rtl = {json.dumps(sorted(RTL_LOCALES))}.includes(locale);
  document.documentElement.setAttribute("dir", rtl ? "rtl" : "ltr");
  document.documentElement.setAttribute("lang", locale || "en");
  const forced = new URL(window.location.href).searchParams.get("__theme");
  if (!forced && theme) {{
    const dark = theme === "dark" || (theme === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.body.classList.toggle("dark", dark);
  }}
  return [];
}}"""

# Resolves once the browser is idle after a frame: the page's later loaders wait for it, so their
# requests and the updates they bring do not compete with the first paint of the table.
AFTER_FIRST_PAINT_JS = """() => new Promise((resolve) => {
  const go = () => resolve([]);
  requestAnimationFrame(() => window.requestIdleCallback ? requestIdleCallback(go, {timeout: 1000}) : setTimeout(go, 100));
})"""
