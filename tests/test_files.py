"""Stored files (chat images): tenant folders, content checks, private names, cleanup (issue 7 item 14, issue 8 §3)."""
from __future__ import annotations

import base64
import os
import stat

import pytest

from promptmgr.context import TenantContext
from promptmgr.errors import PermissionDeniedError, ValidationError
from promptmgr.schemas import PromptCreate, parse

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20 + b"\xff\xd9"


def _chat(services, ctx, name, ref):
    services.library.create(ctx, parse(PromptCreate, {"name": name, "kind": "chat", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image", "url": ref}]}]}))


def test_images_are_stored_privately_under_the_tenant(services, ctx):
    refs = [services.files.store_image(ctx, f"pic.{ext}", data)
            for ext, data in (("png", PNG), ("gif", GIF), ("webp", WEBP), ("jpg", JPEG))]
    assert len(set(refs)) == 4 and all(r.startswith("file:") for r in refs)
    folder = services.settings.files_dir / str(ctx.tenant_id)
    for ref, mime in zip(refs, ("image/png", "image/gif", "image/webp", "image/jpeg")):
        path = folder / ref[len("file:"):]
        assert path.is_file() and len(path.stem) >= 32  # random, not derived from the content
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert services.files.resolve(ctx, ref).startswith(f"data:{mime};base64,")
    if os.name == "posix":
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # The same image twice is two private files: names reveal nothing about content.
    assert services.files.store_image(ctx, "a.png", PNG) != services.files.store_image(ctx, "a.png", PNG)


def test_content_not_the_name_decides(services, ctx):
    for name, data in (("notes.png", b"just some text, not an image"), ("x.gif", b"<svg onload=alert(1)>"),
                       ("page.jpg", b"<html></html>")):
        with pytest.raises(ValidationError) as err:
            services.files.store_image(ctx, name, data)
        assert err.value.message_key == "files.not_an_image" and name in err.value.translate("en")
    assert not (services.settings.files_dir / str(ctx.tenant_id)).exists() or \
        list((services.settings.files_dir / str(ctx.tenant_id)).iterdir()) == []


def test_size_limit(services, ctx):
    services.files.max_bytes = 1024
    with pytest.raises(ValidationError) as err:
        services.files.store_image(ctx, "big.png", PNG + b"\0" * 2000)
    assert err.value.message_key == "files.too_large"
    assert services.files.store_image(ctx, "small.png", PNG)


def test_limit_is_configurable(monkeypatch, tmp_path):
    from promptmgr.config import Settings

    monkeypatch.setenv("PROMPTMGR_MAX_IMAGE_MB", "2")
    assert Settings(home=tmp_path).max_image_bytes == 2 * 1024 * 1024
    monkeypatch.setenv("PROMPTMGR_MAX_IMAGE_MB", "lots")
    with pytest.raises(ValidationError):
        Settings(home=tmp_path).max_image_bytes


def test_another_tenant_cannot_read_a_file(services, ctx):
    ref = services.files.store_image(ctx, "mine.png", PNG)
    other, _ = services.admin.ensure_tenant("other", "Other", "bob")
    # By reference, even with a prompt of its own pointing at it...
    _chat(services, other, "steal", ref)
    with pytest.raises(ValidationError) as err:
        services.files.resolve(other, ref)
    assert err.value.message_key == "testing.file_missing"
    # ...or by guessing paths.
    name = ref[len("file:"):]
    for guess in (f"file:../{ctx.tenant_id}/{name}", f"file:{ctx.tenant_id}/{name}", f"file:/{name}",
                  f"file:..\\{ctx.tenant_id}\\{name}", "file:../../secret.key", "file:", "file:.."):
        with pytest.raises(ValidationError) as err:
            services.files.resolve(other, guess)
        assert err.value.message_key in ("testing.bad_file", "testing.file_missing")
    assert services.files.resolve(ctx, ref).startswith("data:image/png")


def test_a_tampered_stored_file_is_not_sent(services, ctx):
    ref = services.files.store_image(ctx, "a.png", PNG)
    (services.settings.files_dir / str(ctx.tenant_id) / ref[len("file:"):]).write_bytes(b"text now")
    with pytest.raises(ValidationError) as err:
        services.files.resolve(ctx, ref)
    assert err.value.message_key == "testing.not_an_image"


def test_the_testing_bench_reads_files_through_the_tenant(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url)
    ref = services.files.store_image(ctx, "dot.png", PNG)
    _chat(services, ctx, "look", ref)
    services.testing.run(ctx, "look", model="fake/m")
    sent = fake_llm.chat_requests[-1]["messages"][-1]["content"][1]["image_url"]["url"]
    assert sent == "data:image/png;base64," + base64.b64encode(PNG).decode()
    other, _ = services.admin.ensure_tenant("other", "Other", "bob")
    _chat(services, other, "look", ref)
    with pytest.raises(ValidationError):
        services.testing.run(other, "look", model="fake/m")


def test_cleanup_removes_only_unreferenced_files(services, ctx):
    kept = services.files.store_image(ctx, "kept.png", PNG)
    old_version = services.files.store_image(ctx, "v1.png", GIF)
    orphan = services.files.store_image(ctx, "orphan.png", PNG)
    _chat(services, ctx, "album", kept)
    _chat(services, ctx, "history", old_version)
    from promptmgr.schemas import PromptUpdate

    # A reference only an older version holds still keeps the file (versions can be restored).
    services.library.update(ctx, "history", parse(PromptUpdate, {"base_version": 1, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "no image now"}]}]}))
    other, _ = services.admin.ensure_tenant("other", "Other", "bob")
    theirs = services.files.store_image(other, "theirs.png", PNG)
    assert services.files.cleanup_unreferenced(ctx) == []  # a fresh upload waits for its prompt to be saved
    assert services.files.cleanup_unreferenced(ctx, min_age_seconds=0) == [orphan[len("file:"):]]
    for ref in (kept, old_version):
        assert services.files.resolve(ctx, ref)
    with pytest.raises(ValidationError):
        services.files.resolve(ctx, orphan)
    assert services.files.resolve(other, theirs)  # another tenant's files are not touched


def test_legacy_flat_files_move_into_the_single_users_folder(services, ctx):
    services.settings.files_dir.mkdir(parents=True, exist_ok=True)
    (services.settings.files_dir / "0123abcd.png").write_bytes(PNG)
    (services.settings.files_dir / "unclaimed.png").write_bytes(PNG)
    _chat(services, ctx, "old", "file:0123abcd.png")
    assert services.files.resolve(ctx, "file:0123abcd.png").startswith("data:image/png")
    assert (services.settings.files_dir / str(ctx.tenant_id) / "0123abcd.png").is_file()
    with pytest.raises(ValidationError):  # no prompt of this tenant refers to it
        services.files.resolve(ctx, "file:unclaimed.png")


def test_file_roles(services, ctx):
    viewer = TenantContext(ctx.tenant_id, ctx.user_id, "viewer")
    ref = services.files.store_image(ctx, "a.png", PNG)
    with pytest.raises(PermissionDeniedError):
        services.files.store_image(viewer, "a.png", PNG)
    with pytest.raises(PermissionDeniedError):
        services.files.cleanup_unreferenced(viewer)
    assert services.files.resolve(viewer, ref)


def test_an_upload_drops_day_old_unreferenced_files(services, ctx):
    stale = services.files.store_image(ctx, "stale.png", PNG)
    path = services.settings.files_dir / str(ctx.tenant_id) / stale[len("file:"):]
    os.utime(path, (path.stat().st_atime - 2 * 86400, path.stat().st_mtime - 2 * 86400))
    fresh = services.files.store_image(ctx, "fresh.png", PNG)
    assert not path.exists() and services.files.resolve(ctx, fresh)
