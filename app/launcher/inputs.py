"""Input kinds: what a job input's ``from:`` means, one class per kind, in one registry.

A job schema input names its kind (``from: lhs-fragments``). Everything that depends on the
kind asks the registry rather than branching on the name:

- the format (``app.launcher.format``): ``from`` must name a registered kind;
- the rules (``app.launcher.schemas``): ``spec_problems`` and ``bounds`` (min/max counts);
- the dialog (``app.launcher.forms``): ``field`` builds the WTForms field from the codes
  the kind ``offers``, ``template`` (or ``template_source``) renders it, ``value`` reads
  what was posted, ``initial`` is what it starts with on a snapshot (codes lacking the
  input's file are marked and disabled by ``mark_lacking``);
- the checks (``app.launcher.checks``): ``problem`` checks a value against the snapshot,
  ``squonk_value`` turns it into a Squonk2 variable;
- the transfer layout (``app.jobs.service``): ``file_kind`` is the transferred file each
  code stands for in Squonk2 (``app.transfers.service.project_file``);
- ``flask jobs check`` (``app.launcher.drift``): ``multiple`` must match the Squonk2 input.

A new kind is one subclass of ``ManyCodes`` or ``OneCode`` decorated with
``@register_input_kind``, plus its template ``templates/jobs/inputs/<source>.html`` (the
template sees the bound field as ``field``; ``macros/fields.html`` has the pieces).

This module imports nothing else of ``app.launcher`` at run time, so ``format`` and
``schemas`` may import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from wtforms import Field, Form, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

if TYPE_CHECKING:  # schemas.py imports this module
    from jinja2 import Template

    from app.launcher.schemas import JobInput

# The snapshot code lists ``build_launch_form`` is given, by what a kind ``offers``.
OFFERS = ("fragments", "proteins")


# Form fields and validators shared by the kinds (and, for MultiCheckboxField, options) --


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes, one per choice (a fragments input)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def choice_value(choice: Any) -> Any:
    """The value of one of a field's ``choices`` (a ``(value, label)`` pair or a
    ``SelectChoice``, as ``mark_lacking`` leaves them)."""
    return choice.value if isinstance(choice, SelectChoice) else choice[0]


def _chosen(field: Field) -> list[Any]:
    return field.data if isinstance(field.data, list) else [field.data]


class FromSnapshot:
    """Codes chosen for an input must be offered ones; names the others (WTForms' own
    check only says "Not a valid choice")."""

    def __call__(self, form: Form, field: Field) -> None:
        offered = {str(choice_value(choice)) for choice in field.choices}
        foreign = [str(code) for code in _chosen(field) if code and str(code) not in offered]
        if foreign:
            raise ValidationError(f"Not in this snapshot: {', '.join(foreign)}")


class HasFile:
    """A code without the file its input needs cannot be chosen: the dialog shows it
    disabled, and this names it when a post chooses it anyway.

    :param lacking: the label of the missing file ("apo-desolv PDB") by code
    """

    def __init__(self, lacking: Mapping[str, str]) -> None:
        self.lacking = dict(lacking)

    def __call__(self, form: Form, field: Field) -> None:
        named = [
            f"{code} has no {self.lacking[code]}" for code in _chosen(field) if code in self.lacking
        ]
        if named:
            raise ValidationError("; ".join(named))


def mark_lacking(field: Field, lacking: Mapping[str, str]) -> None:
    """Mark the choices of ``field`` whose code lacks the input's file, e.g. "x0072_A — no
    apo-desolv PDB", disable them, and refuse them (``HasFile``).

    :param lacking: the label of the missing file by code
    """
    if not lacking:
        return
    marked: list[Any] = []
    for choice in field.choices:
        value = choice_value(choice)
        if value in lacking:
            label = choice.label if isinstance(choice, SelectChoice) else choice[1]
            choice = SelectChoice(
                value, f"{label} — no {lacking[value]}", render_kw={"disabled": True}
            )
        marked.append(choice)
    field.choices = marked
    field.validators = [*field.validators, HasFile(lacking)]
    field.lacking = dict(lacking)


class CountBetween:
    """How many choices a multi-valued input takes, e.g. "Choose between 2 and 20 fragments"."""

    def __init__(self, item: JobInput) -> None:
        self.item = item

    def __call__(self, form: Form, field: Field) -> None:
        chosen = len(field.data or [])
        if chosen < self.item.min or (self.item.max is not None and chosen > self.item.max):
            raise ValidationError(f"{count_message(self.item)} ({chosen} chosen)")


def count_message(item: JobInput) -> str:
    """What a user must choose for a multi-code input, e.g. "Choose between 2 and 20
    fragments" (the noun is the input kind's)."""
    low, high = item.min, item.max
    kind = input_kind(item.source)
    noun = kind.noun if (high if high is not None else low) == 1 else kind.nouns
    if high is None:
        return f"Choose at least {low} {noun}"
    if low == high:
        return f"Choose exactly {low} {noun}"
    return f"Choose between {low} and {high} {noun}"


# The kinds -----------------------------------------------------------------------------------


class InputKind:
    """One value of an input's ``from:``. Subclass ``ManyCodes`` or ``OneCode``, not this.

    Class attributes a kind declares:

    - ``source``: the ``from:`` name in job schema files, e.g. ``lhs-fragments``;
    - ``multiple``: the input takes a list of codes (True) or one code (False);
    - ``file_kind``: the transferred file a code stands for in Squonk2, one of
      ``app.transfers.service.KINDS`` (``mol``, ``apo_desolv``, ``smi``);
    - ``offers``: which of ``build_launch_form``'s code lists the dialog offers
      (``fragments`` or ``proteins``);
    - ``noun``/``nouns``: what one code is called in messages ("protein", "fragments");
    - ``help``: the field's help text (a ``ManyCodes`` shows its count rule instead);
    - ``provides_protein``: the chosen code is the ``{protein}`` placeholder's value;
    - ``template``: the dialog template rendering the field (default
      ``jobs/inputs/<source>.html``), or ``template_source``: the template itself, as text.
    """

    source: ClassVar[str]
    multiple: ClassVar[bool]
    file_kind: ClassVar[str]
    offers: ClassVar[str] = "proteins"
    noun: ClassVar[str] = "protein"
    nouns: ClassVar[str] = "proteins"
    help: ClassVar[str] = ""
    provides_protein: ClassVar[bool] = False
    template: ClassVar[str | None] = None
    template_source: ClassVar[str | None] = None

    # The job schema file ------------------------------------------------------------------

    def bounds(self, spec: Mapping[str, Any]) -> tuple[int, int | None]:
        """(min, max) codes for an input declared as ``spec`` (max None: unbounded)."""
        raise NotImplementedError

    def spec_problems(self, where: str, spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """(dotted path, reason) for each rule ``spec`` breaks (it has the right structure)."""
        return iter(())

    # The dialog ---------------------------------------------------------------------------

    def field(self, item: JobInput, codes: list[str]) -> UnboundField:
        """The form field for ``item``, offering ``codes``."""
        raise NotImplementedError

    def value(self, field: Field) -> Any:
        """The input's value from its validated field (what ``validate_inputs`` checks)."""
        return field.data

    def initial(self, item: JobInput, codes: list[str]) -> Any:
        """What the dialog starts with when it opens on a snapshot.

        :param codes: the offered codes that have the file the input needs, in snapshot order
        """
        raise NotImplementedError

    def form_template(self) -> str | Template:
        """What the dialog includes to render this kind's field (a name or a template)."""
        if self.template_source is not None:
            from flask import current_app

            return current_app.jinja_env.from_string(self.template_source)
        return self.template or f"jobs/inputs/{self.source}.html"

    # The launch ---------------------------------------------------------------------------

    def problem(self, item: JobInput, value: Any, known: set[str]) -> str | None:
        """Why ``value`` (as submitted, untrusted) is not a valid choice, or None.

        :param known: the protein codes of the launch's snapshot
        """
        raise NotImplementedError

    def squonk_value(self, value: Any, path: Callable[[str], str]) -> Any:
        """The Squonk2 variable for a checked ``value``; ``path(code)`` is a code's file."""
        raise NotImplementedError

    def protein(self, value: Any) -> str | None:
        """The ``{protein}`` placeholder's value when this input holds ``value``."""
        return value if self.provides_protein and isinstance(value, str) else None


class ManyCodes(InputKind):
    """Several codes chosen from the snapshot (checkboxes); ``min``/``max`` bound how many.
    The Squonk2 variable is always a list of files, even of one."""

    multiple: ClassVar[bool] = True

    def bounds(self, spec: Mapping[str, Any]) -> tuple[int, int | None]:
        return spec.get("min", 1), spec.get("max")

    def spec_problems(self, where: str, spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        low, high = self.bounds(spec)
        if high is not None and low > high:
            yield f"{where}.min", f"min ({low}) is greater than max ({high})"

    def field(self, item: JobInput, codes: list[str]) -> UnboundField:
        return MultiCheckboxField(
            item.title,
            choices=[(code, code) for code in codes],
            validators=[FromSnapshot(), CountBetween(item)],
            validate_choice=False,
            description=count_message(item),
        )

    def initial(self, item: JobInput, codes: list[str]) -> Any:
        """All of them when their count is within the input's bounds, else none."""
        within = item.min <= len(codes) and (item.max is None or len(codes) <= item.max)
        return list(codes) if within else []

    def problem(self, item: JobInput, value: Any, known: set[str]) -> str | None:
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
            return f"{item.title}: expected a list of protein codes"
        foreign = [code for code in value if code not in known]
        if foreign:
            return f"Not in this snapshot: {', '.join(foreign)}"
        repeated = sorted({code for code in value if value.count(code) > 1})
        if repeated:
            return f"Chosen more than once: {', '.join(repeated)}"
        if len(value) < item.min or (item.max is not None and len(value) > item.max):
            return f"{count_message(item)} ({len(value)} chosen)"
        return None

    def squonk_value(self, value: Any, path: Callable[[str], str]) -> Any:
        return [path(code) for code in value]


class OneCode(InputKind):
    """Exactly one code chosen from the snapshot (a drop-down); ``min``/``max``, if given,
    must be 1. The Squonk2 variable is one file."""

    multiple: ClassVar[bool] = False

    def bounds(self, spec: Mapping[str, Any]) -> tuple[int, int | None]:
        return 1, 1

    def spec_problems(self, where: str, spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        for bound in ("min", "max"):
            if spec.get(bound, 1) != 1:
                yield f"{where}.{bound}", f"a {self.noun} input takes exactly one {self.noun}"

    def field(self, item: JobInput, codes: list[str]) -> UnboundField:
        return SelectField(
            item.title,
            choices=[("", f"Choose a {self.noun}")] + [(code, code) for code in codes],
            validators=[InputRequired(message=f"Choose a {self.noun}"), FromSnapshot()],
            validate_choice=False,
            description=self.help,
            default="",
            # InputRequired would otherwise render a `required` attribute; keep checks
            # server-side.
            render_kw={"required": False},
        )

    def initial(self, item: JobInput, codes: list[str]) -> Any:
        """The first code (in snapshot order), or nothing chosen when there is none."""
        return codes[0] if codes else ""

    def problem(self, item: JobInput, value: Any, known: set[str]) -> str | None:
        if value is None or value == "":
            return f"Choose a {self.noun} for {item.title}"
        if not isinstance(value, str):
            return f"{item.title}: choose exactly one {self.noun}"
        if value not in known:
            return f"Not in this snapshot: {value}"
        return None

    def squonk_value(self, value: Any, path: Callable[[str], str]) -> Any:
        return path(value)


# The registry --------------------------------------------------------------------------------

_KINDS: dict[str, InputKind] = {}


def register_input_kind(kind: type[InputKind]) -> type[InputKind]:
    """Register a kind under its ``source`` (a class decorator; returns the class).

    Job schemas loaded afterwards may use it; ``unregister_input_kind`` undoes it.

    :raises ValueError: when the source is taken or the class lacks what a kind declares
    """
    source = getattr(kind, "source", None)
    if not isinstance(source, str) or not source:
        raise ValueError(f"{kind.__name__}: an input kind needs a 'source' name")
    if source in _KINDS:
        raise ValueError(f"input kind {source!r} is already registered")
    for name in ("multiple", "file_kind"):
        if not hasattr(kind, name):
            raise ValueError(f"{kind.__name__}: an input kind needs {name!r}")
    if kind.offers not in OFFERS:
        raise ValueError(f"{kind.__name__}: 'offers' must be one of {', '.join(OFFERS)}")
    _KINDS[source] = kind()
    return kind


def unregister_input_kind(source: str) -> None:
    """Forget the kind registered under ``source`` (no error if there is none)."""
    _KINDS.pop(source, None)


def input_kind(source: str) -> InputKind:
    """The kind registered under ``source``.

    :raises KeyError: naming the registered ones
    """
    try:
        return _KINDS[source]
    except KeyError:
        raise KeyError(f"no input kind {source!r} (registered: {', '.join(_KINDS)})") from None


def input_kinds() -> tuple[InputKind, ...]:
    """Every registered kind, in registration order."""
    return tuple(_KINDS.values())


def input_sources() -> tuple[str, ...]:
    """The ``from:`` names a job schema may use, in registration order."""
    return tuple(_KINDS)


@register_input_kind
class LhsFragments(ManyCodes):
    """``lhs-fragments``: the ligand mol files of fragments chosen from the snapshot."""

    source = "lhs-fragments"
    file_kind = "mol"
    offers = "fragments"
    noun, nouns = "fragment", "fragments"


@register_input_kind
class LhsProteinApoDesolv(OneCode):
    """``lhs-protein-apo-desolv``: the desolvated apo PDB of ONE protein of the snapshot."""

    source = "lhs-protein-apo-desolv"
    file_kind = "apo_desolv"
    offers = "proteins"
    noun, nouns = "protein", "proteins"
    help = "The protein's desolvated apo structure is used"
    provides_protein = True
