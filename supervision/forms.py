"""Validation of everything a person can send: the dashboard's forms and the JSON API's bodies.

A greeter name is 1..200 printable characters after trimming (the same name after trimming
is the same greeter); a lifetime is a finite number of seconds from 0 to 86,400; an exit
reason is one of ``normal``, ``shutdown``, ``kill``, ``crash``. JSON bodies are checked for
shape first (an object, known fields, the right types), then by the same forms.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from supervision import runtime as rt
from supervision.commands import EXIT_REASONS
from supervision.greeter import MAX_LIFETIME

NAME_MAX = 200


def validate_printable(value: str) -> None:
    if not value.isprintable():
        raise ValidationError("The name may not contain control characters (tabs, newlines, …).", code="printable")


class SpawnForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX,
        strip=True,
        validators=[validate_printable],
        error_messages={"required": "Give the greeter a name.", "max_length": "A name is at most 200 characters."},
    )
    lifetime = forms.FloatField(
        required=False,
        min_value=0,
        max_value=MAX_LIFETIME,
        help_text="Seconds it keeps greeting; 0 greets once and stops.",
        error_messages={"invalid": "The lifetime is a number of seconds from 0 to 86,400."},
    )

    def clean_lifetime(self) -> float:
        value = self.cleaned_data.get("lifetime")
        return 0.0 if value is None else float(value)


class ExitForm(forms.Form):
    pid = forms.CharField(max_length=40, strip=True, error_messages={"required": "Which process? Give its pid."})
    reason = forms.ChoiceField(
        choices=[(r, r) for r in EXIT_REASONS],
        initial="normal",
        error_messages={
            "required": "Give the reason: one of normal, shutdown, kill or crash.",  # never a default
            "invalid_choice": "The reason is one of normal, shutdown, kill or crash.",
        },
    )

    def clean_pid(self) -> rt.Pid:
        try:
            return rt.Pid.parse(self.cleaned_data["pid"])
        except ValueError:
            raise ValidationError("A pid looks like <0.42.0>.", code="pid") from None


class BadRequest(Exception):
    """A JSON body the API refuses (the message says why)."""


def parse_json_object(body: bytes, allowed: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    """Parse a JSON object whose fields are among ``allowed`` (name -> accepted types).

    Numbers come back as finite floats; a number too large for a float, NaN or Infinity is
    refused here, as is JSON nested deeper than Python will parse.
    """
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        shown = ", ".join(k[:40] for k in unknown[:5])
        raise BadRequest(f"unknown field(s): {shown}; expected {', '.join(allowed)}")
    for field, types in allowed.items():
        value = data.get(field)
        if value is None:
            continue
        numeric = float in types
        if type(value) is bool or not isinstance(value, types):
            raise BadRequest(f"{field} must be a {'number' if numeric else 'string'}")
        if numeric:
            try:
                data[field] = float(value)
            except OverflowError:
                data[field] = math.inf
            if not math.isfinite(data[field]):
                raise BadRequest(f"{field} must be a finite number")
    return data


def first_error(form: forms.Form) -> str:
    """The first error of a bound, invalid form, as one sentence naming its field."""
    for field, errors in form.errors.items():
        message = errors[0]
        return message if field == "__all__" else f"{field}: {message}"
    return "invalid input"
