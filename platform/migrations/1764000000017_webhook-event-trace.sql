-- Up Migration

-- Tracing (issue #13): the W3C traceparent of the change that produced a webhook event, so the dispatcher's first
-- attempt (picked up later from the table, by any worker) joins that change's trace. NULL when tracing is off.
ALTER TABLE webhook_events ADD COLUMN trace_parent text CHECK (trace_parent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

-- Down Migration

ALTER TABLE webhook_events DROP COLUMN trace_parent;
