#!/bin/sh
# Creates the namespace and registers Deskflow's search attributes (domain/search-attributes.ts).
# Fails loudly: a search attribute that cannot be registered stops the stack before api and worker start.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
tries=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  tries=$((tries + 1)); [ "$tries" -ge 60 ] && { echo "Temporal at $TEMPORAL_ADDRESS is not healthy" >&2; exit 1; }
  sleep 2
done
temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$ns" --address "$TEMPORAL_ADDRESS"
existing="$(temporal operator search-attribute list -n "$ns" --address "$TEMPORAL_ADDRESS")"
for sa in TenantId TicketStatus TicketPriority AssigneeId SlaPolicyId; do
  if echo "$existing" | grep -qw "$sa"; then
    echo "search attribute $sa already registered"
  else
    temporal operator search-attribute create -n "$ns" --address "$TEMPORAL_ADDRESS" --name "$sa" --type Keyword
  fi
done
# Prove it: every attribute must now be listed.
listed="$(temporal operator search-attribute list -n "$ns" --address "$TEMPORAL_ADDRESS")"
for sa in TenantId TicketStatus TicketPriority AssigneeId SlaPolicyId; do
  echo "$listed" | grep -qw "$sa" || { echo "search attribute $sa is missing after registration" >&2; exit 1; }
done
echo "namespace $ns and search attributes ready"
