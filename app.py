"""Gradio / Hugging Face Spaces entry point: exposes `demo`."""
from promptmgr.ui.app import create_demo

demo = create_demo()

if __name__ == "__main__":
    from promptmgr.ui.app import launch

    launch(demo)
