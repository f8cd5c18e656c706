"""The launch dialog: a WTForms form built per call from a job schema (STYLE.md, CTFd).

The form has two sub-forms so option names can never collide with input names or with
the form's own attributes, and so a template can lay them out separately::

    form.inputs   -> one field per job input   (HTML names ``inputs-fragments``...)
    form.options  -> one field per shown option (HTML names ``options-count``...)

An input's field is its kind's (``app.launcher.inputs``): the kind builds it, reads the
submitted value from it, and names the template that renders it, which the dialog finds
as ``field.input_template``.

The form coerces browser strings ("3" -> 3) and shows errors next to fields; it is not the
last word: the view must still run ``validate_inputs`` and ``resolve_options`` +
``validate_options`` on ``form_submission(form)`` (and ``attach_errors`` their messages).

Bounds are enforced by validators, not HTML ``min``/``max``/``required`` attributes, so the
browser submits an out-of-range value and the user sees the server's message inline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from app.launcher.checks import default_options
from app.launcher.format import PLACEHOLDERS
from app.launcher.inputs import MultiCheckboxField, mark_lacking
from app.launcher.schemas import JobSchema, OptionOverride, template_fields

# How a fixed templated value reads in the dialog, before a launch gives it a value.
PLACEHOLDER_LABELS = {
    "username": "<your user name>",
    "job_dir": "<job directory>",
    "target": "<target>",
    "protein": "<chosen protein>",
}
assert set(PLACEHOLDER_LABELS) == set(PLACEHOLDERS)


class ListField(TextAreaField):
    """An array option: one item per line, coerced to the item type."""

    def __init__(self, *args: Any, item_type: str = "string", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item_type = item_type

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "\n".join(str(item) for item in self.data or [])

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        lines = [line.strip() for line in valuelist[0].splitlines() if line.strip()]
        items: list[Any] = []
        for number, line in enumerate(lines, 1):
            try:
                items.append(_coerce_item(self.item_type, line))
            except ValueError as error:
                self.data = None
                raise ValueError(f"Line {number}: {error}") from error
        self.data = items


def stop_after_process_error(form: Form, field: Field) -> None:
    """Keep "Not a valid integer value." alone: later validators would only add a
    misleading bounds message about the missing value."""
    if field.process_errors:
        raise StopValidation()


class SearchPattern:
    """A regular expression found anywhere in the value, as JSON Schema ``pattern`` means
    (WTForms' ``Regexp`` anchors at the start, which would disagree with jsonschema)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.regex = re.compile(pattern)

    def __call__(self, form: Form, field: Field) -> None:
        if field.data and not self.regex.search(field.data):
            raise ValidationError(f"Must match the pattern {self.pattern}")


def build_launch_form(
    schema: JobSchema,
    fragments: list[str],
    proteins: list[str],
    formdata: Any = None,
    data: Mapping[str, Any] | None = None,
    csrf: bool = True,
    missing: Mapping[tuple[str, str], str] | None = None,
    prefill: bool = False,
) -> FlaskForm:
    """A new launch form for ``schema`` (a new class every call; shared classes never change).

    Must be called inside a Flask request (or ``test_request_context``).

    :param fragments: snapshot codes offered to inputs whose kind ``offers`` fragments
    :param proteins: snapshot codes offered to inputs whose kind ``offers`` proteins
    :param formdata: submitted data; None means Flask-WTF's default (``request.form`` on a
        POST, nothing otherwise); pass an empty ``MultiDict`` to force "nothing submitted"
    :param data: starting values by input/option name (e.g. a previous launch's inputs and
        options, for "run again"); missing options start at their defaults
    :param csrf: include Flask-WTF's CSRF token (when ``WTF_CSRF_ENABLED``)
    :param missing: the label of each file the snapshot's codes lack, by ``(code, file
        kind)``, e.g. ``("x0072_A", "apo_desolv") -> "apo-desolv PDB"``: an input whose
        kind needs that file shows the code disabled and marked, and refuses it
    :param prefill: inputs not in ``data`` start at their kind's ``initial`` value from
        the codes that have the input's file (all fragments ticked, the first protein)
    """
    inputs_form = type(f"{_class_name(schema)}Inputs", (Form,), {})
    offered = {"fragments": fragments, "proteins": proteins}
    for item in schema.inputs:
        setattr(inputs_form, item.name, item.kind.field(item, offered[item.kind.offers]))

    options_form = type(f"{_class_name(schema)}Options", (Form,), {})
    for name in schema.order:
        override = schema.overrides.get(name)
        if override is not None and override.hidden:
            continue
        prop = schema.option_properties[name]
        required = name in schema.required_options
        if override is not None and override.fixed:
            field = _fixed_field(name, prop)
        else:
            field = _option_field(name, prop, required)
        setattr(options_form, name, field)

    form_class = type(f"{_class_name(schema)}LaunchForm", (FlaskForm,), {"job_schema": schema})
    form_class.inputs = FormField(inputs_form, label="Inputs")
    form_class.options = FormField(options_form, label="Options")

    start = dict(data or {})
    missing = missing or {}
    lacking = {
        item.name: {
            code: missing[(code, item.kind.file_kind)]
            for code in offered[item.kind.offers]
            if (code, item.kind.file_kind) in missing
        }
        for item in schema.inputs
    }
    starting_inputs = {item.name: start[item.name] for item in schema.inputs if item.name in start}
    if prefill:
        for item in schema.inputs:
            if item.name not in starting_inputs:
                usable = [c for c in offered[item.kind.offers] if c not in lacking[item.name]]
                starting_inputs[item.name] = item.kind.initial(item, usable)
    # Objects, not dicts: FormField passes a dict's items as keyword arguments to the
    # sub-form, where an option called `prefix` or `data` would collide with Form's own.
    initial = {
        "inputs": SimpleNamespace(**starting_inputs),
        "options": SimpleNamespace(
            **{
                name: value
                for name, value in {**default_options(schema), **start}.items()
                if name in schema.option_properties and not schema.is_fixed(name)
            }
        ),
    }
    kwargs: dict[str, Any] = {"data": initial}
    if formdata is not None:
        kwargs["formdata"] = formdata
    if not csrf:
        kwargs["meta"] = {"csrf": False}
    form = form_class(**kwargs)
    _show_fixed_values(schema, form)
    for item in schema.inputs:
        field = form.inputs.form[item.name]
        field.input_template = item.kind.form_template()
        mark_lacking(field, lacking[item.name])
        codes = offered[item.kind.offers]
        if codes and len(lacking[item.name]) == len(codes):
            label = lacking[item.name][codes[0]]
            named = ", ".join(codes[:20]) + (
                f" and {len(codes) - 20} more" if len(codes) > 20 else ""
            )
            text = (
                f"No {item.kind.noun} of this snapshot has the {label} this job needs "
                f"(missing for {named}): it cannot run on this snapshot."
            )
            field.description = text
            for validator in field.validators:  # the refusal says why, not "Choose a ..."
                if isinstance(validator, InputRequired):
                    validator.message = text
    return form


def form_submission(form: FlaskForm) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, options) from a submitted launch form, for the server-side checks.

    Fixed options are left out (``resolve_options`` sets them); empty optional fields are
    left out so the option's default applies; decimals become floats (JSON numbers).
    """
    schema: JobSchema = form.job_schema
    inputs = {item.name: item.kind.value(form.inputs.form[item.name]) for item in schema.inputs}
    options: dict[str, Any] = {}
    for name, field in form.options.form._fields.items():
        if schema.is_fixed(name):
            continue
        value = field.data
        if value is None or (value == "" and isinstance(field, StringField)):
            continue
        options[name] = float(value) if isinstance(value, Decimal) else value
    return inputs, options


def attach_errors(form: FlaskForm, errors: Mapping[str, str]) -> None:
    """Show server-side messages (``validate_inputs``/``validate_options``) on their fields.

    Messages for names without a field (a hidden option, an unknown option) go to
    ``form.form_errors`` so the template can show them above the form. A message a field
    already shows is not added again.
    """
    for name, message in errors.items():
        for sub in (form.inputs.form, form.options.form):
            if name in sub._fields:
                field = sub._fields[name]
                if message not in field.errors:
                    field.errors = [*field.errors, message]
                break
        else:
            text = f"{name}: {message}"
            if text not in form.form_errors:
                form.form_errors.append(text)


def fields_with_errors(form: FlaskForm) -> list[Field]:
    """The input and option fields that show an error, in the dialog's order."""
    return [field for sub in (form.inputs.form, form.options.form) for field in sub if field.errors]


def drop_repeated_help(form: FlaskForm) -> None:
    """Say each thing once: a field with an error loses the sentences of its help text the
    error repeats ("Choose between 2 and 20 fragments" is not shown above "Choose between 2
    and 20 fragments (0 chosen)"; "Must be between 1 and 100." goes from the count's help
    while its error says so). Call it once the errors are known, before rendering."""
    for field in fields_with_errors(form):
        if not field.description:
            continue
        errors = [_plain(error) for error in field.errors]
        kept = [
            sentence
            for sentence in _SENTENCE_END.split(field.description)
            if not any(_plain(sentence) in error for error in errors)
        ]
        field.description = " ".join(kept)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _plain(text: str) -> str:
    """A message compared without case, spacing or its closing full stop."""
    return " ".join(str(text).split()).rstrip(".").lower()


# Fields ------------------------------------------------------------------------------------


def _class_name(schema: JobSchema) -> str:
    return "".join(part.capitalize() for part in schema.key.split("-"))


def _option_field(name: str, prop: dict[str, Any], required: bool) -> Field:
    kind = prop["type"]
    label = prop.get("title", name)
    presence = InputRequired(message="This option is required") if required else Optional()
    validators: list[Any] = [presence, stop_after_process_error]
    help_text = _help_text(prop)
    # Without these, InputRequired and NumberRange would render `required`/`min`/`max`
    # attributes and browsers would block the submit before the server could answer.
    render_kw: dict[str, Any] = {"required": False, "min": False, "max": False}
    default = prop.get("default")

    if kind == "boolean":
        # A checkbox is always a value (unchecked is False), so it is never "missing".
        return BooleanField(label, default=bool(default), description=help_text)
    if "enum" in prop:
        coerce = {"integer": int, "number": float}.get(kind, str)
        return SelectField(
            label,
            choices=[(value, str(value)) for value in prop["enum"]],
            coerce=coerce,
            validators=validators,
            default=default,
            description=help_text,
            render_kw=render_kw,
        )
    if kind in ("integer", "number"):
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None or high is not None:
            validators.append(NumberRange(min=low, max=high, message=_range_message(low, high)))
        field_class = IntegerField if kind == "integer" else DecimalField
        return field_class(
            label,
            validators=validators,
            default=default,
            description=help_text,
            render_kw=render_kw,
        )
    if kind == "array":
        items = prop.get("items", {})
        if "enum" in items:
            coerce = {"integer": int, "number": float}.get(items.get("type"), str)
            field: Field = MultiCheckboxField(
                label,
                choices=[(value, str(value)) for value in items["enum"]],
                coerce=coerce,
                validators=[Optional()] if not required else [],
                default=default,
                description=help_text,
            )
            return field
        return ListField(
            label,
            item_type=items.get("type", "string"),
            validators=validators,
            default=default,
            description=help_text,
            render_kw=render_kw,
        )
    if "minLength" in prop or "maxLength" in prop:
        validators.append(Length(min=prop.get("minLength", -1), max=prop.get("maxLength", -1)))
    if "pattern" in prop:
        validators.append(SearchPattern(prop["pattern"]))
    return StringField(
        label, validators=validators, default=default, description=help_text, render_kw=render_kw
    )


def _fixed_field(name: str, prop: dict[str, Any]) -> Field:
    """A read-only text field showing a fixed value; what the browser sends back is ignored."""
    return StringField(
        prop.get("title", name),
        description=" ".join(
            part for part in (prop.get("description", ""), "Set by Fragalysis.") if part
        ),
        render_kw={"readonly": True, "aria-readonly": "true"},
    )


def _show_fixed_values(schema: JobSchema, form: FlaskForm) -> None:
    # After processing, so a value the browser sent for a fixed option is never echoed.
    for name, field in form.options.form._fields.items():
        override = schema.overrides.get(name)
        if override is not None and override.fixed:
            text = fixed_display_value(override)
            field.data = text
            field.raw_data = [text]


def fixed_display_value(override: OptionOverride) -> str:
    """A fixed value as the dialog shows it: placeholders read as words."""
    value = override.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, str):
        return str(value)
    text = value
    for name in template_fields(value):
        if name in PLACEHOLDER_LABELS:
            text = text.replace(f"{{{name}}}", PLACEHOLDER_LABELS[name])
    return text


def _help_text(prop: dict[str, Any]) -> str:
    parts = [prop.get("description", "")]
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None or high is not None:
        parts.append(_range_message(low, high) + ".")
    return " ".join(part for part in parts if part)


def _range_message(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"Must be between {low} and {high}"
    if low is not None:
        return f"Must be at least {low}"
    return f"Must be at most {high}"


def _coerce_item(item_type: str, text: str) -> Any:
    if item_type == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if item_type == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if item_type == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    return text
