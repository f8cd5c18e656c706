"""The job launcher's configuration and dialog: pure Python, no database, no Squonk2 calls.

- ``schemas``: ``job_schemas/*.yaml`` -> ``JobSchema`` (``load_job_schemas``), and the
  ``/api/job_config/`` item (``job_config_json``);
- ``forms``: the launch dialog built per request (``build_launch_form``);
- ``checks``: server-side checks and the Squonk2 specification (``resolve_options``,
  ``validate_options``, ``validate_inputs``, ``fingerprint``, ``squonk_variables``);
- ``definition``: Squonk2 job definitions, and an override merged on top of one
  (``merge_document``; ``definition_changes`` for ``flask jobs check``);
- ``inputs``: the input kinds (an input's ``from``), one class each, in a registry
  (``register_input_kind``, ``input_kind``); every module above asks it what a kind means.
"""

from app.launcher.checks import (
    LaunchContext,
    default_options,
    fingerprint,
    resolve_options,
    squonk_variables,
    validate_inputs,
    validate_options,
)
from app.launcher.definition import Definition, definition_changes, definitions_from_dir
from app.launcher.forms import (
    attach_errors,
    build_launch_form,
    fixed_display_value,
    form_submission,
)
from app.launcher.inputs import (
    InputKind,
    ManyCodes,
    OneCode,
    count_message,
    input_kind,
    input_kinds,
    input_sources,
    register_input_kind,
    unregister_input_kind,
)
from app.launcher.schemas import (
    JOB_SCHEMAS_DIR,
    JobInput,
    JobOutput,
    JobSchema,
    JobSchemaError,
    OptionOverride,
    Preset,
    Problem,
    job_config_json,
    load_job_schema,
    load_job_schemas,
    render_template,
)

__all__ = [
    "JOB_SCHEMAS_DIR",
    "InputKind",
    "JobInput",
    "JobOutput",
    "JobSchema",
    "JobSchemaError",
    "LaunchContext",
    "ManyCodes",
    "OneCode",
    "OptionOverride",
    "Preset",
    "Problem",
    "attach_errors",
    "build_launch_form",
    "Definition",
    "definition_changes",
    "definitions_from_dir",
    "count_message",
    "default_options",
    "fingerprint",
    "fixed_display_value",
    "form_submission",
    "input_kind",
    "input_kinds",
    "input_sources",
    "job_config_json",
    "load_job_schema",
    "load_job_schemas",
    "register_input_kind",
    "render_template",
    "resolve_options",
    "squonk_variables",
    "unregister_input_kind",
    "validate_inputs",
    "validate_options",
]
