"""Media files (photos, signatures) to a tar archive and back, through the configured media
storage — a local folder or S3-compatible object storage alike. Used by deploy/backup.sh and
deploy/restore.sh; the archive lists every file with its SHA-256 (MANIFEST) so a restore is
checked file by file."""

import hashlib
import io
import json
import tarfile
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

MANIFEST = "MANIFEST.json"
SKIP = ("health_check_storage_test/",)  # the health check's probe files


def _walk(storage, folder: str = ""):
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # a local media folder nothing was ever saved to
        return
    for name in files:
        path = f"{folder}/{name}" if folder else name
        if not path.startswith(SKIP):
            yield path
    for sub in folders:
        yield from _walk(storage, f"{folder}/{sub}" if folder else sub)


class Command(BaseCommand):
    help = "Export the media storage to a tar archive, or import one into an empty storage."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("archive", help="the .tar file to write or read")

    def handle(self, *args, action: str, archive: str, **options):
        if action == "export":
            count = self._export(archive)
            self.stdout.write(f"{count} media file(s) written to {archive}")
        else:
            count = self._import(archive)
            self.stdout.write(f"{count} media file(s) restored from {archive}")

    def _export(self, archive: str) -> int:
        manifest = {}
        with tarfile.open(archive, "w") as tar:
            for path in sorted(_walk(default_storage)):
                with default_storage.open(path, "rb") as f:
                    data = f.read()
                manifest[path] = hashlib.sha256(data).hexdigest()
                info = tarfile.TarInfo(f"media/{path}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            body = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        return len(manifest)

    def _import(self, archive: str) -> int:
        with tarfile.open(archive, "r") as tar:
            manifest = json.loads(tar.extractfile(MANIFEST).read())
            for path, digest in manifest.items():
                if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
                    raise CommandError(f"refusing the path {path!r}")
                data = tar.extractfile(f"media/{path}").read()
                if hashlib.sha256(data).hexdigest() != digest:
                    raise CommandError(f"{path}: the archive's copy does not match its checksum")
                if default_storage.exists(path):
                    raise CommandError(f"{path} exists already: restore into an empty storage")
                saved = default_storage.save(path, ContentFile(data))
                if saved != path:
                    raise CommandError(f"{path} was stored as {saved}")
        return len(manifest)
