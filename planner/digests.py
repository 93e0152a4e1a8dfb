"""Content digests of the files a step reads, cached by size and modification time so a plan of hundreds of steps
re-keys in well under a second."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from famous_persona.io import read_json, write_json

# A model folder's files that decide what it computes (weights, shape, tokenizer); logs and READMEs do not.
MODEL_FILES = ("*.safetensors", "*.bin", "*.json", "*.model", "*.txt", "*.gguf")
NOT_MODEL = {"asset.json", "manifest.json", "trainer_state.json", "training_args.bin"}


class DigestCache:
    """sha256 of files, remembered in `path` against (size, mtime_ns): a file rewritten with new content is hashed
    again, an untouched one is not."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, list] = {}
        if self.path is not None and self.path.is_file():
            try:
                self.entries = read_json(self.path)
            except (OSError, ValueError):
                self.entries = {}
        self.changed = False

    def file(self, path: Path | str) -> str | None:
        """The file's sha256, or None when it does not exist."""
        path = Path(path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        known = self.entries.get(str(path))
        if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            return known[2]
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        self.entries[str(path)] = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
        self.changed = True
        return digest.hexdigest()

    def folder(self, root: Path | str, patterns: tuple[str, ...] = MODEL_FILES) -> str | None:
        """One digest over a folder's matching files (names and contents), or None when it holds none."""
        root = Path(root)
        files = sorted({p for pattern in patterns for p in root.glob(pattern) if p.name not in NOT_MODEL})
        if not files:
            return None
        parts = {p.relative_to(root).as_posix(): self.file(p) for p in files}
        return text_digest(json.dumps(parts, sort_keys=True))

    def save(self) -> None:
        if self.path is not None and self.changed:
            write_json(self.path, self.entries)
            self.changed = False


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
