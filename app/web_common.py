"""What every tab of the web app shares: handlers whose failures reach the browser as one line,
and upload fields whose files our own readers check before Gradio touches them.

Handlers: an input we refuse (app.commands.USER_ERRORS, job lookups) is shown as its one-line
message in the web app's words (app/messages.py); anything else is a fault of ours, logged with
its traceback and shown as one line that says so, never Gradio's generic error.

Uploads: `gr.Image` opens an upload with PIL in its own preprocessing, before any handler of
ours runs: a text file, an empty file or a decompression bomb fails there with Gradio's generic
"the upstream app has raised an exception". `ImageUpload` is `gr.Image` (the same widget in the
page) that first checks the file as every model package does (export.images.probe_image) and
answers with that one-line message; it also hands the file on as uploaded (no conversion to
RGB WebP), so the pipelines read the original pixels.
"""

from __future__ import annotations

import functools
import inspect
import logging
import secrets
from pathlib import Path

import gradio as gr

from app.commands import USER_ERRORS
from app.jobs import JobError
from app.messages import for_web
from export.images import ImageError, probe_image

log = logging.getLogger(__name__)

ALL_ERRORS = (*USER_ERRORS, JobError)


def user_error(e: Exception) -> gr.Error:
    return gr.Error(for_web(e), print_exception=False)


def _fault(e: Exception) -> gr.Error:
    ref = secrets.token_hex(4)
    log.error("internal error %s in a web handler", ref, exc_info=e)
    return gr.Error(
        f"Internal error ({type(e).__name__}, ref {ref} in the server log): this "
        "input hit a fault of ours, not a mistake of yours",
        print_exception=False,
    )


def reported(handler):
    """Wrap a Gradio handler (function or generator) so that every failure is one line."""
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def steps(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except ALL_ERRORS as e:
                raise user_error(e) from None
            except Exception as e:
                raise _fault(e) from None

        return steps

    @functools.wraps(handler)
    def call(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except ALL_ERRORS as e:
            raise user_error(e) from None
        except Exception as e:
            raise _fault(e) from None

    return call


class ImageUpload(gr.Image):
    is_template = True  # drawn by gr.Image's own front-end component

    def __init__(self, label: str, **kwargs):
        kwargs = {"type": "filepath", "sources": ["upload"], "image_mode": None, **kwargs}
        super().__init__(label=label, **kwargs)

    def preprocess(self, payload):
        if payload is not None and payload.path:
            name = Path(payload.orig_name or payload.path).name
            try:
                probe_image(payload.path, name).close()
            except ImageError as e:
                raise gr.Error(for_web(e), print_exception=False) from None
        return super().preprocess(payload)
