"""Gradio / Hugging Face Spaces entry point: exposes `demo`.

Single-user mode: `python app.py` listens on GRADIO_SERVER_NAME (default 127.0.0.1). An address
other machines can reach is refused unless PROMPTMGR_EXPOSE=1 (see promptmgr/exposure.py).

Hosted mode (PROMPTMGR_MODE=multi, e.g. on a Space): `python app.py` serves the sign-in pages with
the Gradio app behind them (promptmgr/web) on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT, the address
a Space gives; `app` is that ASGI app for `uvicorn app:app`."""
import os

HOSTED = os.environ.get("PROMPTMGR_MODE", "single").strip().lower() == "multi"

HOST = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
PORT = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)


def hosted_app():
    from promptmgr.web.start import app_from_env

    os.environ.setdefault("PROMPTMGR_BIND_HOST", HOST)
    return app_from_env()


if HOSTED:
    # Run as a script, the app is built inside the error handling below (a refused setting is one
    # line, not a traceback); imported (uvicorn app:app), it is built here.
    app = hosted_app() if __name__ != "__main__" else None
    demo = app.state.pm_demo if app is not None else None
else:
    from promptmgr.ui.app import create_demo

    demo = create_demo()

if __name__ == "__main__":
    import sys

    from promptmgr.errors import PromptMgrError

    try:
        if HOSTED:
            import uvicorn

            app = hosted_app()
            uvicorn.run(app, host=HOST, port=PORT, proxy_headers=True, forwarded_allow_ips="*", log_level="warning")
        else:
            from promptmgr.ui.app import launch

            launch(demo)
    except PromptMgrError as exc:  # a refused address or setting: one translated line, no traceback
        from promptmgr.cli.common import cli_locale

        print(exc.translate(cli_locale()), file=sys.stderr)
        sys.exit(1)
