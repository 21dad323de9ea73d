"""Gradio / Hugging Face Spaces entry point: exposes `demo`.

`python app.py` listens on GRADIO_SERVER_NAME (default 127.0.0.1). In single-user mode an address
other machines can reach is refused unless PROMPTMGR_EXPOSE=1 (see promptmgr/exposure.py)."""
from promptmgr.ui.app import create_demo

demo = create_demo()

if __name__ == "__main__":
    import sys

    from promptmgr.errors import PromptMgrError
    from promptmgr.ui.app import launch

    try:
        launch(demo)
    except PromptMgrError as exc:  # a refused address: one translated line, no traceback
        from promptmgr.cli.common import cli_locale

        print(exc.translate(cli_locale()), file=sys.stderr)
        sys.exit(1)
