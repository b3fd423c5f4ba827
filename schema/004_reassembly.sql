-- 004: how each session's bytes were reassembled (issue 3): the number of bytes
-- missing from the capture. sessions.reassembly (already there) now takes
-- 'complete', 'gap', 'midstream', 'one-sided' or 'truncated'.
ALTER TABLE sessions ADD COLUMN gap_bytes INTEGER NOT NULL DEFAULT 0;
