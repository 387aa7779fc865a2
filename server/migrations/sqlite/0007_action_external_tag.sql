-- Chain entries' actions move from internally tagged JSON ({"type":"rotate","epoch":2})
-- to externally tagged ({"rotate":{"epoch":2}}). Only the JSON changes: signatures and
-- hashes cover the binary encoding of an entry, which stays the same.
UPDATE chain_entries
SET entry = json_set(
    entry,
    '$.action',
    json_object(
        json_extract(entry, '$.action.type'),
        json(json_remove(json_extract(entry, '$.action'), '$.type'))
    )
)
WHERE json_type(entry, '$.action.type') = 'text';
