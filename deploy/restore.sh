#!/bin/sh
# Restore a backup made by deploy/backup.sh into a NEW, empty database and an empty media
# storage (the ones DATABASE_URL and MEDIA_ROOT / MEDIA_S3_BUCKET of this environment name).
#
#   deploy/restore.sh DIR
#
# Checks the files' checksums first; stops at the first error. Create the database beforehand
# (createdb -O dms dms_restored, or CREATE DATABASE … in psql), then point DATABASE_URL at it.
set -eu
dir=${1:?usage: deploy/restore.sh DIR}
: "${DATABASE_URL:?set DATABASE_URL}"
python=${PYTHON:-python}
(cd "$dir" && sha256sum --check --quiet SHA256SUMS)
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$dir/dms.dump"
"$python" manage.py media_archive import "$dir/media.tar"
# the schema is the code's: a backup from an older release gets its later migrations now
"$python" manage.py migrate --noinput
echo "restored from $dir"
