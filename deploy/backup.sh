#!/bin/sh
# Back up DMS-lite: the PostgreSQL database and the media files (photos, signatures).
#
#   deploy/backup.sh DIR
#
# writes DIR/dms.dump (pg_dump, custom format), DIR/media.tar (every file of the media storage,
# local folder or object storage, with a checksum manifest) and DIR/SHA256SUMS. Needs the
# production environment (DATABASE_URL and the rest) and pg_dump of the server's major version
# or newer. With docker compose (docs/deployment.md):
#   docker compose run --rm --no-deps -v "$PWD/backups:/backups" migrate \
#       deploy/backup.sh /backups/$(date +%Y%m%d-%H%M)
# Redis holds nothing to back up: the sweepers rebuild queued work from the database.
set -eu
dir=${1:?usage: deploy/backup.sh DIR}
: "${DATABASE_URL:?set DATABASE_URL}"
python=${PYTHON:-python}
mkdir -p "$dir"
pg_dump --format=custom --no-owner --no-privileges --dbname="$DATABASE_URL" --file="$dir/dms.dump"
"$python" manage.py media_archive export "$dir/media.tar"
(cd "$dir" && sha256sum dms.dump media.tar > SHA256SUMS)
echo "backup written to $dir"
