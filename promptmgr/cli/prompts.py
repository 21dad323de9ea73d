"""`promptmgr prompts ...`: add, edit, show, list, search, history, diff, restore, label, render, rm.

Only typer is imported at module level so `promptmgr --help` stays fast; services and schemas
are imported inside the commands."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import confirm_delete, echo, emit, library, parse_pairs, safe_text, t

app = typer.Typer(no_args_is_help=True, help=(
    "Manage prompts: versions, labels, templates and search. In the local library, or on a promptmgr "
    "server with PROMPTMGR_SERVER and PROMPTMGR_TOKEN set (or --server): the same commands and output."))


@app.callback()
def _remote(
    ctx: typer.Context,
    server: Annotated[Optional[str], typer.Option(
        "--server", help="Work on the prompts of this promptmgr server (https://...) through its REST API "
                         "instead of the local library. Default: $PROMPTMGR_SERVER.")] = None,
    token: Annotated[Optional[str], typer.Option(
        "--token", help="The API token for --server (pm_...). Default: $PROMPTMGR_TOKEN, which keeps it "
                        "out of the process list and shell history.")] = None,
) -> None:
    """Remote mode's options (cli/remote.py), for the command that follows."""
    from .remote import remember

    remember(ctx, server, token)

CHAT_FORMAT_HELP = (
    "With --chat, the content (from --content or --file, .json or .yaml) is a list of chat messages, "
    "or a mapping with a 'messages' list. Each message has a 'role' (system, user or assistant) and a "
    "'content': a string, or a list of parts, each a string, {type: text, text: ...} or "
    "{type: image, url: https://... | data:image/... | file:<stored file>}."
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ContentOpt = Annotated[Optional[str], typer.Option(
    "--content", "-c", help="The prompt text ('-' reads standard input).")]
FileOpt = Annotated[Optional[str], typer.Option(
    "--file", "-f", help="Read the prompt from this file ('-' reads standard input).")]
VarSpecOpt = Annotated[Optional[list[str]], typer.Option(
    "--var-spec", help="Declare a variable as NAME:TYPE[:default] (types: string, text, integer, number, "
                       "boolean, list). Repeatable; when given, these are the prompt's declared variables.")]
VersionOpt = Annotated[Optional[int], typer.Option("--version", "-v", help="A version number.")]
LabelOpt = Annotated[Optional[str], typer.Option("--label", "-l", help="A label, e.g. production.")]
CategoryOpt = Annotated[Optional[str], typer.Option("--category", help="Only prompts in this category.")]
TagFilterOpt = Annotated[Optional[str], typer.Option("--tag", help="Only prompts with this tag.")]
VisibilityOpt = Annotated[Optional[str], typer.Option("--visibility", help="private or public.")]
EnhancementFilterOpt = Annotated[Optional[bool], typer.Option(
    "--enhancement/--no-enhancement", help="Only enhancement prompts, or only the others.")]
KindOpt = Annotated[Optional[str], typer.Option("--kind", help="text or chat.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="At most this many prompts (1-1000).")]
OffsetOpt = Annotated[int, typer.Option("--offset", help="Skip this many prompts first.")]


# --- input helpers (also used by cli/library.py) -----------------------------------------
def source_name(path: str) -> str:
    return t("cli.stdin") if path == "-" else path


def read_input(path: str) -> str:
    """A file's text, or standard input for '-'; unreadable files are a ValidationError."""
    from ..errors import ValidationError

    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError("cli.not_text", path=path) from None
    except OSError as exc:
        raise ValidationError("cli.cannot_read", path=path, detail=exc.strerror or str(exc)) from None


def parse_structured(text: str, path: str):
    """JSON (a .json file) or YAML (anything else; YAML also reads JSON)."""
    import json

    from ..errors import ValidationError

    try:
        if Path(path).suffix.lower() == ".json":
            return json.loads(text)
        from ..services.transfer import safe_yaml_load

        return safe_yaml_load(text)  # refuses alias bombs
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 — any parser error is the file's problem, reported as such
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValidationError("cli.bad_structured", path=source_name(path), detail=detail) from None


def _exclusive(options: dict[str, object]) -> None:
    from ..errors import ValidationError

    given = [name for name, value in options.items() if value is not None]
    if len(given) > 1:
        raise ValidationError("cli.exclusive", options=", ".join(given))


def _read_content(content: str | None, file: str | None) -> tuple[str | None, str]:
    """The raw text from --content or --file (or stdin), and where it came from."""
    _exclusive({"--content": content, "--file": file})
    if file is not None:
        return read_input(file), file
    if content == "-":
        return sys.stdin.read(), "-"
    return content, "-"


def _messages(text: str, path: str) -> list[dict]:
    """Chat messages from a JSON/YAML document, with string shorthands expanded to text parts."""
    from ..errors import ValidationError

    data = parse_structured(text, path)
    if isinstance(data, dict) and "messages" in data:
        data = data["messages"]
    if not isinstance(data, list):
        raise ValidationError("cli.chat_not_list", path=source_name(path))
    messages = []
    for index, message in enumerate(data, start=1):
        if not isinstance(message, dict) or "content" not in message:
            raise ValidationError("cli.chat_bad_message", index=index)
        parts = message["content"]
        parts = [parts] if isinstance(parts, str) else parts
        if not isinstance(parts, list):
            raise ValidationError("cli.chat_bad_message", index=index)
        parts = [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]
        messages.append({**message, "content": parts})
    return messages


def _var_specs(specs: list[str] | None) -> list[dict] | None:
    """--var-spec NAME:TYPE[:default] into declarations; the default is converted to the type."""
    from ..errors import ValidationError
    from ..templating import coerce

    if not specs:
        return None
    result = []
    for spec in specs:
        name, _, rest = spec.partition(":")
        var_type, has_default, default = rest.partition(":")
        name, var_type = name.strip(), var_type.strip() or "string"
        if not name:
            raise ValidationError("cli.bad_var_spec", value=spec)
        entry: dict = {"name": name, "type": var_type}
        if has_default:
            entry["default"] = coerce(default, var_type, name)
        result.append(entry)
    return result


# --- writing ---------------------------------------------------------------------------
@app.command(epilog=CHAT_FORMAT_HELP)
def add(
    name: Annotated[str, typer.Argument(help="A unique name: a-z, 0-9, '.', '_' or '-'.")],
    content: ContentOpt = None,
    file: FileOpt = None,
    chat: Annotated[bool, typer.Option("--chat", help="The content is chat messages (see below).")] = False,
    title: Annotated[Optional[str], typer.Option("--title", help="A human title.")] = None,
    description: Annotated[Optional[str], typer.Option("--description", help="What the prompt is for.")] = None,
    category: Annotated[Optional[str], typer.Option("--category", help="One category.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="A tag (repeatable).")] = None,
    enhancement: Annotated[bool, typer.Option(
        "--enhancement", help="This prompt improves other prompts.")] = False,
    public: Annotated[bool, typer.Option("--public", help="Visible to everyone in the workspace.")] = False,
    var_spec: VarSpecOpt = None,
    message: Annotated[Optional[str], typer.Option("--message", "-m", help="A note for version 1.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a prompt (version 1) from --content or --file."""
    from ..errors import ValidationError
    from ..schemas import PromptCreate, parse

    text, path = _read_content(content, file)
    if text is None:
        raise ValidationError("cli.content_required")
    data = parse(PromptCreate, {
        "name": name, "kind": "chat" if chat else "text",
        "content": None if chat else text, "messages": _messages(text, path) if chat else None,
        "title": title, "description": description, "category": category, "tags": tag,
        "is_enhancement": enhancement, "visibility": "public" if public else "private",
        "variables": _var_specs(var_spec), "message": message or "",
    })
    prompt = library().create(data)
    emit(prompt, as_json, lambda p: t("cli.prompts.added", name=p.name, version=p.version))


@app.command(epilog=CHAT_FORMAT_HELP)
def edit(
    name: Annotated[str, typer.Argument(help="The prompt to change.")],
    content: ContentOpt = None,
    file: FileOpt = None,
    chat: Annotated[bool, typer.Option(
        "--chat", help="The new content is chat messages (implied for chat prompts).")] = False,
    title: Annotated[Optional[str], typer.Option("--title", help="A new title.")] = None,
    description: Annotated[Optional[str], typer.Option("--description", help="A new description.")] = None,
    category: Annotated[Optional[str], typer.Option("--category", help="A new category.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(
        "--tag", help="Replace the tags (repeatable; --tag '' clears them).")] = None,
    enhancement: Annotated[Optional[bool], typer.Option(
        "--enhancement/--no-enhancement", help="Mark or unmark as an enhancement prompt.")] = None,
    public: Annotated[Optional[bool], typer.Option("--public/--private", help="Change the visibility.")] = None,
    var_spec: VarSpecOpt = None,
    message: Annotated[Optional[str], typer.Option("--message", "-m", help="A note for the new version.")] = None,
    base_version: Annotated[Optional[int], typer.Option(
        "--base-version", help="The version your edit starts from (default: the latest, read first). "
                               "If someone saved a newer version since, the edit is refused.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a prompt. New content or variables make a new version; other fields change in place."""
    from ..errors import ValidationError
    from ..schemas import PromptUpdate, parse

    text, path = _read_content(content, file)
    variables = _var_specs(var_spec)
    fields = {"title": title, "description": description, "category": category, "tags": tag,
              "is_enhancement": enhancement,
              "visibility": None if public is None else ("public" if public else "private")}
    changes_content = text is not None or variables is not None
    if not changes_content and all(v is None for v in fields.values()):
        raise ValidationError("cli.prompts.nothing_to_change")
    prompts = library()
    # The version read here is the edit's base: a save by someone else in between is a conflict.
    current = prompts.get(name) if changes_content else None
    messages = None
    if text is not None and (chat or current.kind == "chat"):
        text, messages = None, _messages(text, path)
    data = parse(PromptUpdate, {
        **fields, "content": text, "messages": messages, "variables": variables, "message": message or "",
        "base_version": base_version if base_version is not None else (current.version if current else None),
    })
    prompt = prompts.update(name, data)
    emit(prompt, as_json, lambda p: t("cli.prompts.edited", name=p.name, version=p.version))


@app.command()
def restore(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    version: Annotated[int, typer.Argument(help="The old version to bring back.")],
    base_version: Annotated[Optional[int], typer.Option(
        "--base-version", help="Refuse if the latest version is no longer this one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an old version's content the newest version (history is kept)."""
    prompt = library().restore(name, version, base_version)
    emit(prompt, as_json, lambda p: t("cli.prompts.restored", name=p.name, source=version, version=p.version))


@app.command()
def label(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    label: Annotated[str, typer.Argument(help="The label, e.g. production or staging.")],
    version: Annotated[Optional[int], typer.Option(
        "--version", "-v", help="The version to point at (default: the latest).")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the label instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Point a label at a version (it moves if it already exists), or remove it."""
    _exclusive({"--version": version, "--remove": True if remove else None})
    prompts = library()
    labels = prompts.remove_label(name, label) if remove else prompts.set_label(name, label, version)
    result = {"name": name, "label": label, "version": labels.get(label), "labels": labels}
    emit(result, as_json, lambda r: t("cli.prompts.label_removed", name=name, label=label) if remove
         else t("cli.prompts.label_set", name=name, label=label, version=r["version"]))


@app.command()
def rm(
    name: Annotated[str, typer.Argument(help="The prompt to delete, with all its versions and labels.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a prompt with all its versions and labels (asks first unless --yes)."""
    prompts = library()
    if not yes:
        confirm_delete(lambda: prompts.get(name), name, needs_yes="cli.prompts.rm_needs_yes",
                       ask="cli.prompts.rm_confirm", cancelled="cli.prompts.rm_cancelled")
    prompts.delete(name)
    echo(t("cli.prompts.removed", name=name))


# --- reading ---------------------------------------------------------------------------
@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    version: VersionOpt = None,
    label: LabelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a prompt at its latest version, a given version or a label."""
    _exclusive({"--version": version, "--label": label})
    emit(library().get(name, version=version, label=label), as_json, _show_text)


def _show_text(p) -> str:
    lines = [t("cli.prompts.show_header", name=p.name, version=p.version, latest=p.latest_version, kind=p.kind)]
    fields = [("cli.prompts.field_title", p.title), ("cli.prompts.field_description", p.description),
              ("cli.prompts.field_category", p.category), ("cli.prompts.field_tags", ", ".join(p.tags)),
              ("cli.prompts.field_labels", ", ".join(f"{label}=v{n}" for label, n in p.labels.items())),
              ("cli.prompts.field_variables", ", ".join(_variable_text(v) for v in p.variables)),
              ("cli.prompts.field_version_note", p.version_message)]
    lines += [t(key, value=value) for key, value in fields if value]
    lines.append(t("cli.prompts.field_saved", author=p.version_author or "-",
                   at=p.version_created_at.strftime("%Y-%m-%d %H:%M UTC")))
    return "\n".join(lines) + "\n\n" + p.content


def _variable_text(v: dict) -> str:
    text = f"{v['name']}:{v.get('type') or 'string'}"
    if v.get("default") is not None:
        text += f"={v['default']}"
    return text if v.get("required", True) else text + "?"


def _list(q, category, tag, visibility, enhancement, kind, sort, limit, offset, as_json) -> None:
    from ..schemas import PromptQuery, parse

    query = parse(PromptQuery, {"q": q, "category": category, "tag": tag, "visibility": visibility,
                                "is_enhancement": enhancement, "kind": kind, "sort": sort,
                                "limit": limit, "offset": offset})
    page = library().list(query)
    if as_json:
        emit(page.items, True)
        if page.total > page.offset + len(page.items):  # stdout stays a pure array; the hint goes to stderr
            echo(_showing(page), err=True)
        return
    echo(_table(page))


def _showing(page) -> str:
    return t("cli.prompts.showing", first=page.offset + 1, last=page.offset + len(page.items), total=page.total)


def _table(page) -> str:
    if not page.items:
        return t("cli.prompts.none") if page.total == 0 else t("cli.prompts.past_end", total=page.total)
    header = [t(key) for key in ("cli.prompts.col_name", "cli.prompts.col_version", "cli.prompts.col_category",
                                 "cli.prompts.col_tags", "cli.prompts.col_title")]
    rows = [[p.name, f"v{p.latest_version}", p.category, _clip(",".join(p.tags), 32), p.title]
            for p in page.items]
    return _aligned([header, *rows]) + "\n" + _showing(page)


def _aligned(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the last column is left free."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
                     for row in rows)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_(
    category: CategoryOpt = None,
    tag: TagFilterOpt = None,
    visibility: VisibilityOpt = None,
    enhancement: EnhancementFilterOpt = None,
    kind: KindOpt = None,
    sort: Annotated[str, typer.Option(
        "--sort", help="updated, created, name, title or relevance.")] = "updated",
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """List prompts (50 at a time unless --limit says otherwise), newest change first."""
    _list(None, category, tag, visibility, enhancement, kind, sort, limit, offset, as_json)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to find in names, titles, descriptions, tags and content.")],
    category: CategoryOpt = None,
    tag: TagFilterOpt = None,
    visibility: VisibilityOpt = None,
    enhancement: EnhancementFilterOpt = None,
    kind: KindOpt = None,
    sort: Annotated[str, typer.Option(
        "--sort", help="relevance, updated, created, name or title.")] = "relevance",
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Full-text search, best match first; every word must match (as a prefix)."""
    _list(query, category, tag, visibility, enhancement, kind, sort, limit, offset, as_json)


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    as_json: JsonOpt = False,
) -> None:
    """Every version of a prompt, oldest first, with its labels."""
    versions = library().history(name)
    rows = [{"version": v.number, **v.model_dump(mode="json", exclude={"number"})} for v in versions]
    emit(rows, as_json, _history_text)


def _history_text(rows: list[dict]) -> str:
    header = [t(key) for key in ("cli.prompts.col_version", "cli.prompts.col_created", "cli.prompts.col_author",
                                 "cli.prompts.col_labels", "cli.prompts.col_message")]
    table = [[f"v{r['version']}", r["created_at"][:16].replace("T", " "), r["author"] or "-",
              ",".join(r["labels"]), r["message"]] for r in rows]
    return _aligned([header, *table])


@app.command()
def diff(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    v1: Annotated[int, typer.Argument(help="The old version.")],
    v2: Annotated[int, typer.Argument(help="The new version.")],
) -> None:
    """Unified diff between two versions (colored on a terminal)."""
    text = library().diff(name, v1, v2)
    if not text:
        echo(t("cli.prompts.no_difference", name=name, v1=v1, v2=v2), err=True)
        return
    if not sys.stdout.isatty():
        echo(text)
        return
    colors = {"+": typer.colors.GREEN, "-": typer.colors.RED, "@": typer.colors.CYAN}
    for line in text.splitlines():
        bold = line.startswith(("+++", "---"))
        typer.echo(typer.style(safe_text(line), fg=None if bold else colors.get(line[:1]), bold=bold or None))


@app.command()
def render(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    version: VersionOpt = None,
    label: LabelOpt = None,
    var: Annotated[Optional[list[str]], typer.Option(
        "--var", help="A value as KEY=VALUE (repeatable; wins over --vars-file).")] = None,
    vars_file: Annotated[Optional[str], typer.Option(
        "--vars-file", help="A JSON or YAML file with a mapping of variable values.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fill in a prompt's variables and print the result (chat: each message as \\[role] then its text)."""
    from ..errors import ValidationError

    _exclusive({"--version": version, "--label": label})
    values = {}
    if vars_file is not None:
        loaded = parse_structured(read_input(vars_file), vars_file)
        if not isinstance(loaded, dict):
            raise ValidationError("cli.vars_not_mapping", path=source_name(vars_file))
        values.update({str(k): v for k, v in loaded.items()})
    values.update(parse_pairs(var or [], "--var"))
    prompt = library().render(name, values, version=version, label=label)
    if as_json:
        emit({"name": prompt.name, "version": prompt.version, "content": prompt.content,
              "messages": prompt.messages}, True)
    else:
        echo(prompt.content, nl=not prompt.content.endswith("\n"))
