"""What a notebook reports, written from the values just measured: key results and takeaways.

- ``key_result(text, **values)``: shows ``text`` to the learner as one Markdown line ("**Key result:** ...")
  and attaches ``{"text": text, "values": values}`` under the MIME type ``KEY_RESULT_MIME``. Jupyter shows
  the Markdown and ignores that MIME type; the notebook runner (``tools/notebook_runner.py``) collects it
  into build/notebook_results.json, and ``make docs`` takes the README's reference results from there. No
  marker text ever appears in what the learner sees.
- ``takeaways(*bullets, title=None)``: the takeaway bullets of a notebook, rendered as a Markdown list.
  Each bullet is a string the notebook formats from its own variables (``f"... {ratio:.2f}x ..."``), so
  no measured number is ever typed into a Markdown cell and none goes stale.
- ``reference_results(notebook)``: the key results of the kit's reference machine for a notebook, read
  from docs/reference/notebook_results.json (the file ``make docs`` copies), for a notebook that wants to
  show "on the reference machine" next to "on yours"; its ``source`` says so.

Used by every notebook (their key results and Takeaways sections) and by the notebook runner in tools/.
"""
import json
import math
import numbers
import pathlib

KEY_RESULT_MIME = "application/vnd.hpml.key-result+json"
REFERENCE_FILE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "reference" / "notebook_results.json"


def _show(bundle, text):
    """Display a MIME bundle in a notebook; outside IPython print the plain text."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the kit
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(bundle, raw=True)


def _json_value(name, value):
    """``value`` as something JSON keeps (numbers, strings, bools, None, lists and dicts of them)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{name}[{index}]", item) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {str(key): _json_value(f"{name}[{key!r}]", item) for key, item in value.items()}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _json_value(name, value.tolist())
    raise TypeError(f"{name} must be a number, a string, a bool, None or a list/dict of them, got "
                    f"{type(value).__name__}")


def key_result(text, **values):
    """Show ``text`` as the notebook's key result and attach it (with ``values``) for the notebook runner."""
    from .validation import check_string

    text = " ".join(check_string(text, "text").split())
    payload = {"text": text, "values": {name: _json_value(name, value) for name, value in values.items()}}
    markdown = f"**Key result:** {text}"
    _show({"text/markdown": markdown, "text/plain": f"Key result: {text}", KEY_RESULT_MIME: payload}, markdown)
    return payload


def takeaways(*bullets, title=None):
    """Render ``bullets`` (strings, formatted from measured values) as a Markdown list, under ``title``."""
    from .validation import check_string

    if not bullets:
        raise ValueError("takeaways needs at least one bullet (a string)")
    lines = [check_string(bullet, f"bullets[{index}]").strip() for index, bullet in enumerate(bullets)]
    markdown = "\n".join(f"- {line}" for line in lines)
    if title is not None:
        markdown = f"**{check_string(title, 'title').strip()}**\n\n{markdown}"
    _show({"text/markdown": markdown, "text/plain": markdown}, markdown)
    return markdown


def collect_key_results(outputs):
    """The key-result payloads in a cell's ``outputs`` (nbformat output dicts), in order."""
    found = []
    for output in outputs:
        data = output.get("data", {}) if isinstance(output, dict) else {}
        if KEY_RESULT_MIME in data:
            payload = data[KEY_RESULT_MIME]
            found.append(json.loads(payload) if isinstance(payload, str) else dict(payload))
    return found


def reference_results(notebook, mode="full", path=None):
    """{"source", "key_results"} of ``notebook`` (its stem) on the kit's reference machine, or None."""
    from .validation import check_choice, check_string

    notebook = check_string(notebook, "notebook")
    mode = check_choice(mode, "mode", ("smoke", "full"))
    path = pathlib.Path(path) if path is not None else REFERENCE_FILE
    if not path.exists():
        return None
    entry = json.loads(path.read_text()).get(f"{notebook}:{mode}")
    if entry is None:
        return None
    return {"source": f"reference machine ({path.name} in docs/reference/, {mode} mode)",
            "key_results": entry.get("key_results", [])}
