"""What every tab of the web app shares: handlers whose failures reach the browser as one line,
and upload fields whose files our own readers check before Gradio touches them.

Handlers: an input we refuse (app.errors.USER_ERRORS, job lookups) is shown as its one-line
message in the web app's words (app/errors.py); anything else is a fault of ours, logged with
its traceback and shown as one line that says so, never Gradio's generic error.

Fields: `gr.Image` opens an upload with PIL in its own preprocessing, before any handler of
ours runs, so a text file, an empty file or a decompression bomb fails there with Gradio's
generic "the upstream app has raised an exception"; `gr.Number` and `gr.Slider` fail the same
way on a NaN or on text sent over raw HTTP. The fields made here (the same widgets in the page)
check their payload first, with the checks every model package uses, and answer in one line.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import secrets
from pathlib import Path

import gradio as gr

from app.errors import USER_ERRORS, for_web
from app.jobs import JobError
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
            except Exception as e:
                raise _as_one_line(e) from None

        return steps

    @functools.wraps(handler)
    def call(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception as e:
            raise _as_one_line(e) from None

    return call


def _as_one_line(e: Exception) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    return user_error(e) if isinstance(e, ALL_ERRORS) else _fault(e)


def _checked_number(field, payload):
    """A number field's payload as a finite number inside the field's bounds (numeric text
    accepted), or one line that says so."""
    label = field.label
    if payload is None:
        return None
    if isinstance(payload, str):
        try:
            payload = float(payload)
        except ValueError:
            raise gr.Error(
                f"{label} must be a number, not {payload[:40]!r}", print_exception=False
            ) from None
    if isinstance(payload, bool) or not isinstance(payload, int | float):
        raise gr.Error(
            f"{label} must be a number, not {type(payload).__name__}", print_exception=False
        )
    if not math.isfinite(payload):
        raise gr.Error(f"{label} must be a finite number, not {payload}", print_exception=False)
    low, high = field.minimum, field.maximum
    if (low is not None and payload < low) or (high is not None and payload > high):
        bounds = (
            f"from {low:g} to {high:g}"
            if low is not None and high is not None
            else (f"at least {low:g}" if low is not None else f"at most {high:g}")
        )
        raise gr.Error(f"{label} must be {bounds}, not {payload:g}", print_exception=False)
    return payload


def image_upload(label: str, **kwargs) -> gr.Image:
    """An image upload field that hands on the file as uploaded (no conversion to RGB WebP: the
    pipelines read the original pixels), after checking it with our reader."""
    field = gr.Image(
        label=label, **{"type": "filepath", "sources": ["upload"], "image_mode": None, **kwargs}
    )

    def check(payload):
        if payload is not None and payload.path:
            name = Path(payload.orig_name or payload.path).name
            try:
                probe_image(payload.path, name).close()
            except ImageError as e:
                raise gr.Error(for_web(e), print_exception=False) from None
        return payload

    return _checked_first(field, check)


def number_field(**kwargs) -> gr.Number:
    field = gr.Number(**kwargs)
    return _checked_first(field, lambda payload: _checked_number(field, payload))


def slider_field(*args, **kwargs) -> gr.Slider:
    field = gr.Slider(*args, **kwargs)
    return _checked_first(field, lambda payload: _checked_number(field, payload))


def _checked_first(field, check):
    """The field, its payload passed through `check` before Gradio's own preprocessing. (Set on
    the instance: a subclass of a Gradio component makes Gradio write a .pyi stub beside our
    source at import time.)"""
    preprocess = field.preprocess
    field.preprocess = lambda payload: preprocess(check(payload))
    return field
