#!/bin/sh
# Creates (or upgrades) Temporal's own databases in PostgreSQL. Safe to re-run.
set -eu
tool="temporal-sql-tool --plugin postgres12 --ep ${POSTGRES_SEEDS} -u ${POSTGRES_USER} -p ${DB_PORT:-5432}"
for db in temporal temporal_visibility; do
  $tool --db "$db" create || true # exists already on a re-run
done
$tool --db temporal setup-schema -v 0.0 || true
$tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
$tool --db temporal_visibility setup-schema -v 0.0 || true
$tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo 'Temporal schema ready'
