"""Submit prepared request files as batches, idempotently, and read their status.

The manifest is saved after every upload and every batch created, so an interrupted submit
resumes where it stopped: a file already uploaded is not uploaded again, a file already in a
batch is not submitted again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from judgekit._errors import InputError
from judgekit.batch.manifest import (
    MANIFEST_NAME,
    Manifest,
    PreparedBatch,
    SubmittedBatch,
    load_manifest,
    load_prepared,
    now,
    save,
)
from judgekit.batch.remote import BatchRemote, RemoteBatch


def submit_prepared(
    directory: str | Path,
    remote: BatchRemote,
    *,
    manifest_path: str | Path | None = None,
    completion_window: str = "24h",
    max_batches: int | None = None,
    on_submit: Callable[[SubmittedBatch], None] | None = None,
) -> Manifest:
    """Create one batch per prepared request file not yet submitted; returns the saved manifest.

    `max_batches` caps the batches created by this call (the rest wait for the next call), for
    accounts whose queue of enqueued tokens is small.
    """
    directory = Path(directory).resolve()
    prepared = load_prepared(directory)
    path = Path(manifest_path) if manifest_path is not None else directory / MANIFEST_NAME
    manifest = _existing_or_new(path, prepared, directory, remote)
    created = 0
    for file in prepared.files:
        entry = manifest.entry(file.name)
        if entry is not None and entry.batch_id is not None:
            continue
        if max_batches is not None and created >= max_batches:
            break
        if entry is None:
            file_id = remote.upload(directory / file.name)
            entry = SubmittedBatch(
                request_file=file.name,
                requests=file.requests,
                file_id=file_id,
                completion_window=completion_window,
            )
            manifest = manifest.with_entry(entry)
            save(path, manifest)
        metadata = {
            "judgekit_rubric": f"{prepared.rubric.name} {prepared.rubric.hash}",
            "judgekit_file": file.name,
        }
        batch = remote.create(entry.file_id, completion_window=entry.completion_window, metadata=metadata)
        entry = entry.model_copy(update={"batch_id": batch.id, "submitted_at": now()})
        manifest = manifest.with_entry(entry)
        save(path, manifest)
        created += 1
        if on_submit is not None:
            on_submit(entry)
    save(path, manifest)
    return manifest


def _existing_or_new(path: Path, prepared: PreparedBatch, directory: Path, remote: BatchRemote) -> Manifest:
    if not path.exists():
        return Manifest(
            prepared_dir=str(directory),
            rubric=prepared.rubric,
            model=prepared.model,
            base_url=prepared.base_url,
            settings=prepared.settings,
            created_at=now(),
            updated_at=now(),
        )
    manifest = load_manifest(path)
    mismatch = [
        name
        for name, ours, theirs in (
            ("prepared directory", manifest.prepared_dir, str(directory)),
            ("rubric hash", manifest.rubric.hash, prepared.rubric.hash),
            ("model", manifest.model, prepared.model),
            ("endpoint", manifest.base_url, prepared.base_url),
        )
        if ours != theirs
    ]
    if mismatch:
        raise InputError(
            f"belongs to another batch job (its {', '.join(mismatch)} differ from {directory}); "
            "write this job's manifest elsewhere with -o",
            path=str(path),
        )
    if manifest.base_url.rstrip("/") != remote.base_url:
        raise InputError(f"was submitted to {manifest.base_url}, not {remote.base_url}", path=str(path))
    return manifest


def batch_status(manifest: Manifest, remote: BatchRemote) -> list[tuple[SubmittedBatch, RemoteBatch | None]]:
    """Each manifest entry with its batch's current state (None: uploaded, no batch created yet)."""
    return [
        (entry, remote.retrieve(entry.batch_id) if entry.batch_id is not None else None)
        for entry in manifest.batches
    ]
